/**
 * `data labels` and `data split` given a file that is not a label file: the error says where (file, line,
 * column) and what was expected, never what the file holds, and a file without end (/dev/zero) is refused
 * after 64 MiB instead of read until memory runs out.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCxr, tempDir } from "./_fixtures.ts";

Deno.test("data labels/split: a key file passed as --entries is named, not quoted; /dev/zero is refused", async () => {
  using tmp = tempDir();
  const secret = "c2NvcmluZy1rZXktZG8tbm90LXByaW50LTAxMjM0NTY3ODk=";
  const keyFile = join(tmp.path, "scoring.key");
  writeFileSync(keyFile, `${secret}\n`);
  const labels = await runCxr(["data", "labels", "--entries", keyFile], { cwd: tmp.path });
  assert.equal(labels.code, 1, labels.stderr);
  assert.equal(
    labels.stderr.trim().split("\n").at(-1),
    'error: NihFormatError: Cannot read "scoring.key" at line 1, column 1: not a Data_Entry_2017 label file: ' +
      'its header must start with "Image Index,Finding Labels,Follow-up #"',
  );
  assert.ok(!labels.stderr.includes(secret) && !labels.stdout.includes(secret));

  const zero = await runCxr(
    ["data", "split", "--entries", "/dev/zero", "--method", "official", "--out", join(tmp.path, "s.json")],
    { cwd: tmp.path },
  );
  assert.equal(zero.code, 1, zero.stderr);
  assert.match(
    zero.stderr,
    /error: InputTooLargeError: Cannot read "zero": it is larger than 64 MiB, more than any NIH label or list file/,
  );
});
