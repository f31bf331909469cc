/**
 * The build context of the project's images, streamed as tar: the Dockerfile, the Deno binary, `deno.json`,
 * `deno.lock`, `lib/`, `docker/entrypoints/`, `node_modules/`, plus `notebooks/` (training) or `model/`
 * (scoring: the bundle given, or an empty folder to mount one over). The project's `.dockerignore` applies to
 * every path, so secrets (`.env`), tests and other systems' native libraries never reach a layer.
 *
 * @module
 */
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { TarMember } from "./_tar_writer.ts";
import { writeTar } from "./_tar_writer.ts";
import { isIgnored, mayReinclude, parseDockerignore } from "./_ignore.ts";
import type { IgnoreRules } from "./_ignore.ts";

/** The two images this project builds. */
export const IMAGE_KINDS = ["training", "scoring"] as const;
/** `training` or `scoring`. */
export type ImageKind = typeof IMAGE_KINDS[number];

/** The project's root folder (where `deno.json` is). */
export const PROJECT_ROOT: string = fileURLToPath(new URL("../../", import.meta.url));

/** Options for {@linkcode buildContext} and {@linkcode contextMembers}. */
export interface BuildContextOptions {
  /** Project folder whose files go in. @default {@linkcode PROJECT_ROOT} */
  root?: string;
  /** Model bundle folder copied to `model/` (scoring only). @default none: `model/` is empty */
  model?: string | undefined;
}

/** The project paths every image's context takes (then `notebooks` for training, and the Dockerfile). */
const PROJECT_PATHS = ["deno.json", "deno.lock", "lib", "docker/entrypoints", "node_modules"];

/**
 * The Dockerfile's path inside the context of `kind`.
 *
 * @throws {TypeError} for another kind.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.equal(dockerfilePath("scoring"), "docker/scoring.Dockerfile");
 * assert.throws(() => dockerfilePath("gpu" as "scoring"), /one of: training, scoring/);
 * ```
 */
export function dockerfilePath(kind: ImageKind): string {
  if (!IMAGE_KINDS.includes(kind)) {
    throw new TypeError(`Unknown image kind "${kind}": expected one of: ${IMAGE_KINDS.join(", ")}`);
  }
  return `docker/${kind}.Dockerfile`;
}

async function* fileBody(path: string): AsyncIterable<Uint8Array> {
  yield* (await Deno.open(path)).readable; // closed at its end, or when the tar writer stops early
}

async function* walk(
  source: string,
  name: string,
  rules: IgnoreRules | undefined,
): AsyncGenerator<TarMember> {
  const info = await Deno.lstat(source);
  const ignored = rules !== undefined && isIgnored(name, rules);
  if (info.isSymlink) {
    if (!ignored) yield { type: "symlink", name, target: await Deno.readLink(source) };
  } else if (info.isFile) {
    if (!ignored) {
      // Readable by the image's non-root user whatever the checkout's umask (some npm files are 0600).
      const mode = (info.mode ?? 0o644) & 0o111 ? 0o755 : 0o644;
      yield { type: "file", name, mode, size: info.size, body: () => fileBody(source) };
    }
  } else if (info.isDirectory) {
    if (ignored && !mayReinclude(name, rules!)) return;
    if (!ignored) yield { type: "directory", name, mode: 0o755 };
    const entries: string[] = [];
    for await (const e of Deno.readDir(source)) entries.push(e.name);
    entries.sort();
    for (const e of entries) yield* walk(join(source, e), `${name}/${e}`, rules);
  }
}

/**
 * The members of the build context of `kind`, in a stable order, with `.dockerignore` applied; file bodies
 * are read only when the tar is written.
 *
 * @throws {TypeError} for an unknown kind; `Deno.errors.NotFound` when the model folder does not exist.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const names: string[] = [];
 * for await (const m of contextMembers("scoring", {})) if (!m.name.startsWith("node_modules/")) names.push(m.name);
 * assert.ok(names.includes("deno") && names.includes("lib/cli/main.ts") && names.includes("model"));
 * assert.ok(!names.some((n) => n.endsWith("_test.ts")));
 * ```
 */
export async function* contextMembers(
  kind: ImageKind,
  options: BuildContextOptions = {},
): AsyncGenerator<TarMember> {
  dockerfilePath(kind);
  if (kind === "scoring" && options.model) {
    const info = await Deno.stat(options.model).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      throw new Deno.errors.NotFound(
        `Model bundle "${options.model}" does not exist: train one first (notebook 03 or \`deno task demo\`) ` +
          "or pass another bundle folder",
        { cause: e },
      );
    });
    if (!info.isDirectory) throw new TypeError(`Model bundle "${options.model}" is not a folder`);
  }
  const root = resolve(options.root ?? PROJECT_ROOT);
  let rules: IgnoreRules | undefined;
  try {
    rules = parseDockerignore(await Deno.readTextFile(join(root, ".dockerignore")));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const deno = await Deno.realPath(Deno.execPath());
  const denoInfo = await Deno.stat(deno);
  yield { type: "file", name: "deno", mode: 0o755, size: denoInfo.size, body: () => fileBody(deno) };
  yield { type: "directory", name: "docker", mode: 0o755 };
  const paths = [...PROJECT_PATHS, ...(kind === "training" ? ["notebooks"] : []), dockerfilePath(kind)];
  for (const path of paths) {
    const source = join(root, path);
    try {
      await Deno.lstat(source);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound && path === "node_modules") {
        throw new Deno.errors.NotFound(
          `Cannot build the ${kind} image: "${source}" is missing; run \`deno install\` in ${root} first`,
          { cause: e },
        );
      }
      throw e;
    }
    yield* walk(source, relative(root, source).split("\\").join("/"), rules);
  }
  if (kind === "scoring") {
    if (options.model) {
      // The same rules: a `.env` or key file left in a bundle folder stays out too.
      yield* walk(resolve(options.model), "model", rules);
    } else yield { type: "directory", name: "model", mode: 0o755 };
  }
}

/**
 * The build context of `kind` as a tar stream (what `POST /build` takes), read from disk as it is sent. A
 * missing model bundle fails here, before anything is sent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const reader = (await buildContext("scoring", {})).getReader();
 * const first = await reader.read();
 * await reader.cancel();
 * assert.equal(new TextDecoder().decode(first.value!.subarray(0, 4)), "deno");
 * ```
 */
export async function buildContext(
  kind: ImageKind,
  options: BuildContextOptions = {},
): Promise<ReadableStream<Uint8Array>> {
  const members = contextMembers(kind, options);
  const first = await members.next();
  return ReadableStream.from(writeTar((async function* () {
    if (!first.done) yield first.value;
    yield* members;
  })()));
}
