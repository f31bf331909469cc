import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { runCxr, tempDir } from "./_fixtures.ts";

// `doctor` and `setup` as a user runs them: real subprocesses, real files, and a PATH we control.

/** A PATH with deno and the basic tools but no `az` (none is installed here; this makes sure of it). */
function pathWithout(extra?: string): string {
  return [extra, dirname(Deno.execPath()), "/usr/bin", "/bin"].filter(Boolean).join(":");
}

Deno.test("doctor --json: one document with every check, exit 0 although checks warn or fail", async () => {
  const r = await runCxr(["doctor", "--json", "--timeout", "60"]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(doc), ["ok", "counts", "checks"]);
  assert.equal(doc.checks.length, 13);
  assert.equal(doc.counts.ok + doc.counts.warn + doc.counts.fail, 13);
  for (const c of doc.checks) {
    assert.deepEqual(Object.keys(c).slice(0, 4), ["id", "title", "status", "detail"]);
  }
  const backends = doc.checks.find((c: { id: string }) => c.id === "backends");
  assert.match(backends.detail, /^best: (\w+) \(.*cpu: yes\)$/);
  assert.equal(backends.detail.split(" ")[1], backends.details.best);
  assert.deepEqual(backends.details.tried.map((t: { name: string }) => t.name), [
    "tensorflow",
    "webgpu",
    "wasm",
    "cpu",
  ]);
  assert.match(r.stderr, /doctor 13\/13/);
});

Deno.test("doctor prints a table and what to do about each gap", async () => {
  const r = await runCxr(["doctor", "--skip-backends"], { env: { PATH: pathWithout() } });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^(ok|warn|fail) +GPU and NVIDIA driver +/m);
  assert.match(r.stdout, /^warn +Azure CLI and login +az not found/m);
  assert.match(r.stdout, /What to do:\n- .*\n/);
  assert.match(r.stdout, /- Azure CLI and login: Install the Azure CLI/);
});

Deno.test("doctor shows the backends as a small table, their full errors only with --verbose", async () => {
  const short = await runCxr(["doctor", "--timeout", "60"]);
  assert.equal(short.code, 0, short.stderr);
  assert.match(
    short.stdout,
    /^Compute backends \(tfjs\):\n {4}backend +usable +why \(not\)\n {4}tensorflow +(yes|no) /m,
  );
  assert.match(short.stdout, /^ {2}\* in use: (tensorflow|webgpu|wasm|cpu)$/m);
  const section = /^Compute backends \(tfjs\):\n(?: {2}.*\n)+/m.exec(short.stdout)![0];
  assert.doesNotMatch(section, /node_modules|XDG_RUNTIME_DIR/);
  for (const line of section.split("\n")) assert.ok(line.length <= 100, line);
  assert.doesNotMatch(short.stderr, /XDG_RUNTIME_DIR/);
  const verbose = await runCxr(["doctor", "--timeout", "60", "--verbose"]);
  assert.equal(verbose.code, 0, verbose.stderr);
  if (/^ {4}tensorflow +no /m.test(verbose.stdout)) assert.match(verbose.stdout, /^ {2}tensorflow:\n {4}\S/m);
});

Deno.test("setup without az writes an Azurite .env (0600, merged) and prints the az commands for later", async () => {
  using dir = tempDir();
  const env = join(dir.path, ".env");
  writeFileSync(env, "# my settings\nAZURE_LOCATION=westeurope\n");
  const dry = await runCxr(["setup", "--env-file", env, "--dry-run"], {
    cwd: dir.path,
    env: { PATH: pathWithout() },
  });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /dry run: nothing run or written/);
  assert.equal(readFileSync(env, "utf8"), "# my settings\nAZURE_LOCATION=westeurope\n");

  const r = await runCxr(["setup", "--env-file", env, "--location", "eastus", "--resource-group", "xr"], {
    cwd: dir.path,
    env: { PATH: pathWithout() },
  });
  assert.equal(r.code, 0, r.stderr);
  const text = readFileSync(env, "utf8");
  assert.match(text, /^# my settings\nAZURE_LOCATION=westeurope\n/);
  assert.match(text, /^CXR_STORAGE=azurite$/m);
  assert.match(text, /^CXR_AZURITE_PORT=10000$/m);
  assert.match(text, /^AZURE_RESOURCE_GROUP=xr$/m);
  assert.equal(statSync(env).mode & 0o777, 0o600);
  assert.match(r.stdout, /AZURE_LOCATION=eastus +\(kept the existing value; --force replaces it\)/);
  for (
    const line of [
      "az login --use-device-code",
      "az storage account create --name cxr",
      "--sku Standard_LRS --kind StorageV2 --https-only true --min-tls-version TLS1_2 --allow-blob-public-access false",
      "az storage container create --name nih-archives",
      "az network nsg rule create --resource-group xr --nsg-name cxr-vm-nsg --name ssh --priority 1000",
      "--destination-port-ranges 22 ",
      "--destination-port-ranges 10002 ",
      "--destination-port-ranges 10003 ",
      "az vm create --resource-group xr --name cxr-vm --location eastus --size Standard_NC6s_v3 --image microsoft-dsvm:",
      "--data-disk-sizes-gb 512",
    ]
  ) assert.ok(r.stdout.includes(line), `missing: ${line}\n${r.stdout}`);
  const forced = await runCxr(["setup", "--env-file", env, "--location", "eastus", "--force", "--json"], {
    cwd: dir.path,
    env: { PATH: pathWithout() },
  });
  assert.equal(forced.code, 0, forced.stderr);
  assert.deepEqual(JSON.parse(forced.stdout).written, ["AZURE_LOCATION"], "the group comes from .env now");
  assert.match(readFileSync(env, "utf8"), /^AZURE_LOCATION=eastus$/m);
});

const KEY = "c3RvcmFnZS1rZXktdGhhdC1tdXN0LW5ldmVyLWJlLXByaW50ZWQ=";
const FAKE_AZ = `#!/bin/sh
# Stands in for the Azure CLI: records its arguments (and whether a key came through the environment).
echo "$* | key=\${AZURE_STORAGE_KEY:+set} account=\${AZURE_STORAGE_ACCOUNT}" >> "$AZ_LOG"
case "$1 $2" in
  "account show") echo '{"id": "1111-2222", "name": "Research", "user": {"name": "ana@example.org", "type": "user"}}' ;;
  "group create") echo '{"name": "cxr-rg", "properties": {"provisioningState": "Succeeded"}}' ;;
  "storage account") if [ "$3" = keys ]; then echo "$FAKE_KEY"; else echo '{"provisioningState": "Succeeded"}'; fi ;;
  "storage container") echo '{"created": true}' ;;
  *) echo "unexpected az $*" >&2; exit 2 ;;
esac
`;

Deno.test("setup against a recording az stand-in, since no Azure login exists here: right commands, key only in .env", async () => {
  using dir = tempDir();
  const bin = join(dir.path, "bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "az"), FAKE_AZ);
  chmodSync(join(bin, "az"), 0o755);
  const log = join(dir.path, "az.log");
  const env = join(dir.path, ".env");
  const vars = { PATH: pathWithout(bin), AZ_LOG: log, FAKE_KEY: KEY };

  const refused = await runCxr(["setup", "--env-file", env, "--account", "cxrtest01"], {
    cwd: dir.path,
    env: vars,
  });
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /needs --yes when not run from a terminal/);
  assert.equal(readFileSync(log, "utf8"), "account show --output json | key= account=\n");
  assert.equal(existsSync(env), false);

  writeFileSync(log, "");
  const r = await runCxr(["setup", "--env-file", env, "--account", "cxrtest01", "--yes"], {
    cwd: dir.path,
    env: vars,
  });
  assert.equal(r.code, 0, r.stderr);
  const calls = readFileSync(log, "utf8").trim().split("\n");
  assert.deepEqual(calls, [
    "account show --output json | key= account=",
    "group create --name cxr-rg --location eastus --output json | key= account=",
    "storage account create --name cxrtest01 --resource-group cxr-rg --location eastus --sku Standard_LRS " +
    "--kind StorageV2 --https-only true --min-tls-version TLS1_2 --allow-blob-public-access false --output json" +
    " | key= account=",
    "storage account keys list --account-name cxrtest01 --resource-group cxr-rg --query [0].value --output tsv" +
    " | key= account=",
    ...["nih-archives", "nih-images", "nih-metadata", "models"].map((c) =>
      `storage container create --name ${c} --account-name cxrtest01 --output json | key=set account=cxrtest01`
    ),
  ]);
  const text = readFileSync(env, "utf8");
  assert.match(text, new RegExp(`^AZURE_STORAGE_KEY=${KEY}$`, "m"));
  assert.match(text, /^CXR_STORAGE=azure$/m);
  assert.match(text, /^AZURE_STORAGE_ACCOUNT=cxrtest01$/m);
  assert.match(text, /^AZURE_SUBSCRIPTION_ID=1111-2222$/m);
  assert.equal(statSync(env).mode & 0o777, 0o600);
  for (const output of [r.stdout, r.stderr]) {
    assert.ok(!output.includes(KEY) && !output.includes(KEY.slice(0, 20)));
  }
  assert.match(r.stdout, /AZURE_STORAGE_KEY=\*\*\*/);
  assert.match(r.stdout, /Azure login: ana@example\.org \(Research\)/);
  assert.match(r.stdout, /To run yourself:\n(.*\n)*.*az vm create/);

  const settings = await runCxr(["settings", "--json", "--env-file", env], { cwd: dir.path });
  assert.equal(settings.code, 0, settings.stderr);
  assert.equal(JSON.parse(settings.stdout).storage.accountKey, "***");
  assert.ok(!settings.stdout.includes(KEY));
});

Deno.test("gpu-smoke on this machine (no GPU, no CUDA provider library): says why train --gpus cannot run, runs no step, exit 0; --json; a bad backend exits 2", async () => {
  const text = await runCxr(["gpu-smoke", "--backend", "cpu"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^tfjs backend: cpu /m);
  assert.match(text.stdout, /^GPUs: none listed by nvidia-smi$/m);
  assert.match(text.stdout, /^ONNX Runtime providers: .*\bcpu\b.*\bcuda\b/m);
  assert.match(
    text.stdout,
    /^train --gpus cannot run here: libonnxruntime_providers_cuda\.so is not installed/m,
  );
  const json = await runCxr(["gpu-smoke", "--backend", "cpu", "--json"]);
  assert.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout);
  assert.deepEqual(Object.keys(report), ["backend", "reason", "tried", "devices", "onnx"]);
  assert.deepEqual(report.onnx.steps, []);
  assert.match(report.onnx.problem, /libonnxruntime_providers_cuda\.so/);
  const bad = await runCxr(["gpu-smoke", "--backend", "tpu"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--backend/);
});
