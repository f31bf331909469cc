import assert from "node:assert/strict";
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readTar } from "../nih/mod.ts";
import { buildContext, contextMembers } from "./context.ts";
import { isIgnored, mayReinclude, parseDockerignore } from "./_ignore.ts";
import { tempDir } from "../../tests/_fixtures.ts";

/** A small project folder, removed when disposed. */
function fakeProject(): ReturnType<typeof tempDir> {
  const dir = tempDir("cxr-ctx-");
  const root = dir.path;
  const files: Record<string, string> = {
    ".dockerignore":
      ".env\n**/.env\n**/*_test.ts\n**/*.map\nnode_modules/.deno/pkg@1/node_modules/pkg/bin/darwin\n",
    ".env": "CXR_SCORING_KEY=do-not-ship-this-key-123\n",
    "deno.json": "{}",
    "deno.lock": "{}",
    "lib/a.ts": "export const a = 1;\n",
    "lib/a_test.ts": "Deno.test('x', () => {});\n",
    ["lib/deep/" + "x".repeat(120) + ".ts"]: "// a name longer than ustar's 100 bytes\n",
    "docker/entrypoints/cxr.sh": "#!/bin/sh\n",
    "docker/scoring.Dockerfile": "FROM scratch\n",
    "node_modules/.deno/pkg@1/node_modules/pkg/index.js": "module.exports = 1;\n",
    "node_modules/.deno/pkg@1/node_modules/pkg/index.js.map": "{}",
    "node_modules/.deno/pkg@1/node_modules/pkg/bin/darwin/lib.dylib": "mach-o",
    "node_modules/.deno/pkg@1/node_modules/pkg/bin/linux/lib.so": "elf",
  };
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(root, name, ".."), { recursive: true });
    writeFileSync(join(root, name), text, { mode: name.endsWith(".sh") ? 0o700 : 0o600 });
  }
  symlinkSync(".deno/pkg@1/node_modules/pkg", join(root, "node_modules/pkg"));
  return dir;
}

Deno.test("scoring context: .dockerignore applied (no .env, tests, maps, other platforms), symlinks kept, modes readable", async () => {
  using project = fakeProject();
  const root = project.path;
  const bundle = join(root, "bundle");
  mkdirSync(bundle);
  writeFileSync(join(bundle, "metadata.json"), "{}");
  writeFileSync(join(bundle, ".env"), "AZURE_STORAGE_KEY=do-not-ship-this-key-456\n");
  const seen = new Map<string, { type: string; mode?: number; text?: string; target?: string }>();
  for await (const e of readTar(await buildContext("scoring", { root, model: bundle }), "context.tar")) {
    let text = "";
    for await (const c of e.body) text += new TextDecoder().decode(c);
    seen.set(e.name.replace(/\/$/, ""), { type: e.type, mode: e.mode, text });
  }
  const names = [...seen.keys()];
  assert.ok(names.includes("deno") && names.includes("lib/a.ts") && names.includes("model/metadata.json"));
  assert.ok(names.includes("lib/deep/" + "x".repeat(120) + ".ts"), "long names survive (pax header)");
  const pkg = "node_modules/.deno/pkg@1/node_modules/pkg";
  assert.ok(names.includes(join(pkg, "bin/linux/lib.so")));
  const gone = [".env", "model/.env", "lib/a_test.ts", `${pkg}/index.js.map`];
  for (const g of gone) assert.ok(!names.includes(g), `${g} must not be in the context`);
  assert.ok(!names.some((n) => n.includes("darwin")));
  assert.ok(![...seen.values()].some((v) => v.text?.includes("do-not-ship-this-key")));
  assert.equal(seen.get("node_modules/pkg")?.type, "symlink");
  assert.equal(seen.get("lib/a.ts")?.mode, 0o644, "0600 files become world-readable");
  assert.equal(seen.get("docker/entrypoints/cxr.sh")?.mode, 0o755);
  assert.equal(seen.get("deno")?.mode, 0o755);
});

Deno.test("training context: notebooks, no model folder; a missing node_modules is named", async () => {
  using project = fakeProject();
  const root = project.path;
  mkdirSync(join(root, "notebooks"));
  writeFileSync(join(root, "notebooks/02.ipynb"), "{}");
  writeFileSync(join(root, "docker/training.Dockerfile"), "FROM scratch\n");
  const names: string[] = [];
  for await (const m of contextMembers("training", { root })) names.push(m.name);
  assert.ok(names.includes("notebooks/02.ipynb") && names.includes("docker/training.Dockerfile"));
  assert.ok(!names.some((n) => n.startsWith("model")));
  await assert.rejects(
    async () => {
      for await (
        const _ of contextMembers("scoring", { root, model: join(root, "no-such-bundle") })
      ) { /* walk */ }
    },
    /Model bundle ".*no-such-bundle" does not exist: train one first/,
  );
  rmSync(join(root, "node_modules"), { recursive: true });
  await assert.rejects(
    async () => {
      for await (const _ of contextMembers("training", { root })) { /* walk */ }
    },
    /node_modules" is missing; run `deno install`/,
  );
});

Deno.test("the project's .dockerignore keeps secrets, tests and other platforms out", async () => {
  const rules = parseDockerignore(await Deno.readTextFile(new URL("../../.dockerignore", import.meta.url)));
  const out = [".env", "lib/.env", ".git/config", "data/images/a.png", ".work/demo/x", "tests/a_test.ts"];
  for (const p of out) assert.equal(isIgnored(p, rules), true, p);
  const ort = "node_modules/.deno/onnxruntime-node@1.30.0/node_modules/onnxruntime-node/bin/napi-v6";
  assert.equal(isIgnored(`${ort}/win32/x64/onnxruntime.dll`, rules), true);
  assert.equal(isIgnored(`${ort}/linux/x64/libonnxruntime.so.1`, rules), false);
  const tf = "node_modules/.deno/@tensorflow+tfjs-core@4.22.0/node_modules/@tensorflow/tfjs-core/dist";
  assert.equal(isIgnored(`${tf}/tf-core.min.js`, rules), true);
  assert.equal(isIgnored(`${tf}/tf-core.node.js`, rules), false, "the package main stays");
  assert.equal(mayReinclude(tf, rules), true);
  assert.equal(isIgnored("lib/cli/main.ts", rules), false);
  assert.equal(isIgnored("README.md", rules), true);
  assert.equal(isIgnored("model/MODEL_CARD.md", rules), false, "the bundle's model card ships in the image");
  assert.equal(isIgnored("model/notes.md", rules), true);
});

Deno.test(".dockerignore patterns with + ( ) match themselves, case-sensitively, as in Docker", () => {
  const rules = parseDockerignore("node_modules/.deno/@img+sharp-*musl*/lib\na(b)/c\nREADME.md\n");
  assert.equal(isIgnored("node_modules/.deno/@img+sharp-linuxmusl-x64@0.34.5/lib/libvips.so", rules), true);
  assert.equal(isIgnored("node_modules/.deno/@img+sharp-linux-x64@0.34.5/lib/libvips.so", rules), false);
  assert.equal(isIgnored("a(b)/c", rules), true);
  assert.equal(isIgnored("readme.md", rules), false);
});
