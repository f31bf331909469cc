// Lints docker/*.Dockerfile with npm:dockerfile-utils (no hadolint is installable here), every check an error,
// plus the project's own rules: base image as a pinned build argument, non-root user, no secret-like ARG/ENV.
import assert from "node:assert/strict";
import { validate, ValidationSeverity } from "dockerfile-utils";
import type { ValidatorSettings } from "dockerfile-utils";
import { REPO_ROOT } from "./_fixtures.ts";
import { join } from "node:path";

const STRICT: ValidatorSettings = {
  deprecatedMaintainer: ValidationSeverity.ERROR,
  directiveCasing: ValidationSeverity.ERROR,
  emptyContinuationLine: ValidationSeverity.ERROR,
  instructionCasing: ValidationSeverity.ERROR,
  instructionCmdMultiple: ValidationSeverity.ERROR,
  instructionEntrypointMultiple: ValidationSeverity.ERROR,
  instructionHealthcheckMultiple: ValidationSeverity.ERROR,
  instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
  instructionWorkdirRelative: ValidationSeverity.ERROR,
};

function lint(text: string): string[] {
  return validate(text, STRICT).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
}

function instructions(text: string): [string, string][] {
  return text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const [word = "", ...rest] = l.split(/\s+/);
      return [word.toUpperCase(), rest.join(" ")];
    });
}

Deno.test("the linter reports problems (so a clean result means something)", () => {
  assert.ok(lint("from debian\nWORKDIR app\nCMD ['a']\nCMD [\"b\"]\n").length >= 3);
});

for (const kind of ["scoring", "training"]) {
  Deno.test(`docker/${kind}.Dockerfile: dockerfile-utils finds nothing; base is a pinned ARG; non-root; no secrets`, async () => {
    const text = await Deno.readTextFile(join(REPO_ROOT, "docker", `${kind}.Dockerfile`));
    assert.deepEqual(lint(text), []);
    const ins = instructions(text);
    assert.equal(ins[0]?.[0], "ARG");
    const [, base] = /^BASE=(\S+)$/.exec(ins[0]?.[1] ?? "") ?? [];
    assert.ok(base, "the first instruction is ARG BASE=<image>");
    assert.match(base, /:[^:]+$/, "the base carries a tag");
    assert.doesNotMatch(base, /:latest$|:[a-z-]*slim$|:bookworm$/, "a pinned tag, not a moving one");
    assert.deepEqual(ins[1], ["FROM", "${BASE}"]);
    const users = ins.filter(([w]) => w === "USER").map(([, a]) => a);
    assert.ok(users.length > 0 && !/^(root|0)(:|$)/.test(users.at(-1)!), `last USER is non-root: ${users}`);
    for (const [w, a] of ins.filter(([w]) => w === "ARG" || w === "ENV")) {
      assert.doesNotMatch(
        a,
        /KEY|SECRET|PASSWORD|TOKEN|SAS|CONNECTION_STRING/i,
        `${w} ${a} looks like a secret`,
      );
    }
    assert.ok(!ins.some(([w]) => w === "ADD"), "COPY only: ADD fetches URLs and unpacks archives");
    if (kind === "scoring") {
      assert.ok(ins.some(([w, a]) => w === "HEALTHCHECK" && a.includes("healthcheck.ts")));
      assert.ok(ins.some(([w, a]) => w === "EXPOSE" && a === "8080"));
      assert.ok(ins.some(([w, a]) => w === "CMD" && a.includes('"serve"') && a.includes('"/model"')));
    } else {
      assert.ok(ins.some(([w, a]) => w === "ARG" && a === "TFJS_NODE_GPU=1"));
      assert.ok(ins.some(([w, a]) => w === "ARG" && a === "JUPYTER_PORT=10003"));
      assert.ok(ins.some(([w, a]) => w === "VOLUME" && a.includes("/data") && a.includes("/output")));
      assert.match(base, /^nvidia\/cuda:11\.2\.2-cudnn8-runtime-ubuntu20\.04$/);
    }
  });
}
