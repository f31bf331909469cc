/**
 * Checks of the host: free disk for the NIH data, the Docker engine, Jupyter with Deno's kernel, the two
 * Jupyter ports and the Deno version.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { type DoctorCheck, formatGB } from "./check.ts";
import type { DoctorEnvironment } from "./environment.ts";

/** Disk the full data set needs, in bytes: the 12 NIH archives, the extracted PNGs and the 224x224 cache. */
export const DISK_NEEDS = { archives: 45e9, images: 42e9, cache: 6e9 } as const;

/**
 * Free disk where the NIH data goes (`dataDir`, or its nearest existing parent) against
 * {@linkcode DISK_NEEDS}: `ok` when all fits, `warn` when it fits only if the archives are deleted after
 * extraction, `fail` otherwise.
 */
export async function checkDisk(env: DoctorEnvironment, dataDir: string): Promise<DoctorCheck> {
  const base = { id: "disk", title: "Free disk for the NIH data" };
  let dir = resolve(dataDir);
  while (!(await env.exists(dir)) && dirname(dir) !== dir) dir = dirname(dir);
  const space = await env.statfs(dir);
  const fix = "Attach a 512 GB data disk (`az vm disk attach --new --size-gb 512 --sku Premium_LRS " +
    "--name cxr-data --resource-group G --vm-name VM`), mount it and set CXR_DATA_DIR to a folder on it.";
  if (!space) return { ...base, status: "warn", detail: `cannot read free space of ${dir}`, fix };
  const all = DISK_NEEDS.archives + DISK_NEEDS.images + DISK_NEEDS.cache;
  const where = dir === resolve(dataDir) ? dir : `${dir} (nearest existing folder of ${resolve(dataDir)})`;
  const detail = `${formatGB(space.free)} free of ${formatGB(space.total)} at ${where}; the full data set ` +
    `needs ~${formatGB(all)} (${formatGB(DISK_NEEDS.archives)} archives + ${formatGB(DISK_NEEDS.images)} ` +
    `images + ${formatGB(DISK_NEEDS.cache)} cache)`;
  if (space.free >= all) return { ...base, status: "ok", detail };
  if (space.free >= DISK_NEEDS.images + DISK_NEEDS.cache + 4.5e9) {
    return {
      ...base,
      status: "warn",
      detail: `${detail}: enough only if each archive is deleted once extracted`,
      fix:
        `Fetch the archives one at a time (\`data fetch --only N\`) and delete each after extraction, or ` +
        `${fix.charAt(0).toLowerCase()}${fix.slice(1)}`,
    };
  }
  return { ...base, status: "fail", detail: `${detail}: not enough`, fix };
}

/**
 * Docker: the CLI on PATH and, more to the point, an engine answering `/_ping` on `DOCKER_HOST` or
 * `/var/run/docker.sock`.
 */
export async function checkDocker(env: DoctorEnvironment): Promise<DoctorCheck> {
  const base = { id: "docker", title: "Docker engine" };
  const cli = await env.run("docker", ["--version"]);
  const cliText = cli.code === 0 ? cli.stdout.trim() : "no docker CLI";
  const host = env.env("DOCKER_HOST") || "unix:///var/run/docker.sock";
  const fix =
    "Install and start the engine: `sudo apt-get install -y docker.io && sudo systemctl enable --now " +
    "docker` (the Data Science VM image has it), add yourself to the docker group, or set DOCKER_HOST; for GPU " +
    "containers also install nvidia-container-toolkit.";
  let answer: string;
  try {
    const r = host.startsWith("unix://")
      ? await env.get("http://docker/_ping", { unixSocket: host.slice("unix://".length) })
      : await env.get(`${host.replace(/^tcp:/, "http:").replace(/\/$/, "")}/_ping`);
    if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
    answer = r.headers["api-version"] ? `API ${r.headers["api-version"]}` : r.body.trim();
  } catch (e) {
    const detail = `${cliText}; no engine answers at ${host} (${(e as Error).message})`;
    return { ...base, status: cli.code === 0 ? "fail" : "warn", detail, fix };
  }
  if (cli.code !== 0) {
    const detail = `engine answers at ${host} (${answer}), but the docker CLI is missing`;
    const fix =
      "Install the CLI: `sudo apt-get install -y docker.io` (the workflow talks to the API itself).";
    return { ...base, status: "warn", detail, fix };
  }
  return { ...base, status: "ok", detail: `${cliText}; engine answers at ${host} (${answer})` };
}

/** Jupyter (`/usr/bin/jupyter`, else on PATH) and whether Deno's kernel is registered with it. */
export async function checkJupyter(env: DoctorEnvironment): Promise<DoctorCheck> {
  const base = { id: "jupyter", title: "Jupyter and the Deno kernel" };
  const fix = "Run scripts/install_kernel.sh (Debian packages jupyter-notebook jupyter-nbconvert " +
    "python3-nbclient python3-ipykernel jupyter-client, then `deno jupyter --install`).";
  let r = await env.run("/usr/bin/jupyter", ["kernelspec", "list", "--json"]);
  if (r.code === 127) r = await env.run("jupyter", ["kernelspec", "list", "--json"]);
  if (r.code === 127) return { ...base, status: "fail", detail: "jupyter not found", fix };
  let specs: Record<string, { resource_dir?: string; spec?: { argv?: string[] } }>;
  try {
    specs = JSON.parse(r.stdout).kernelspecs ?? {};
  } catch {
    const why = (r.stderr || r.stdout).trim().split("\n").at(-1);
    return { ...base, status: "fail", detail: `jupyter kernelspec list failed: ${why}`, fix };
  }
  const names = Object.keys(specs).sort().join(", ") || "none";
  const deno = specs.deno;
  if (!deno) return { ...base, status: "fail", detail: `kernels: ${names}; no "deno" kernel`, fix };
  const bin = deno.spec?.argv?.[0];
  if (bin && bin.startsWith("/") && !(await env.exists(bin))) {
    return { ...base, status: "fail", detail: `the deno kernel points at ${bin}, which is gone`, fix };
  }
  return { ...base, status: "ok", detail: `kernels: ${names}; deno kernel runs ${bin ?? "deno"}` };
}

/** Whether a Jupyter port is free, or which server holds it (a Jupyter server answers `/api`). */
export async function checkPort(
  env: DoctorEnvironment,
  port: number,
  what: { id: string; title: string; variable: string },
): Promise<DoctorCheck> {
  const base = { id: what.id, title: `${what.title} port ${port}` };
  if (await env.portFree(port)) return { ...base, status: "ok", detail: `port ${port} is free` };
  let holder = "another program";
  try {
    const r = await env.get(`http://127.0.0.1:${port}/api`, { timeoutMs: 2000 });
    const version = JSON.parse(r.body)?.version;
    if (version) {
      return { ...base, status: "ok", detail: `a Jupyter server (${version}) already serves port ${port}` };
    }
    holder = `an HTTP server (${r.headers.server ?? `status ${r.status}`})`;
  } catch { /* not HTTP, or not Jupyter */ }
  const ss = await env.run("ss", ["-ltnpH", `sport = :${port}`]);
  const proc = /users:\(\("([^"]+)",pid=(\d+)/.exec(ss.stdout);
  if (proc) holder += ` — process ${proc[1]} (pid ${proc[2]})`;
  const fix = `Stop that program or pick another port with ${what.variable}=N in .env.`;
  return { ...base, status: "warn", detail: `port ${port} is in use by ${holder}`, fix };
}

/** This Deno against the version the project is tested with (2.9.6; any 2.x from 2.1 works). */
export function checkDeno(env: DoctorEnvironment): Promise<DoctorCheck> {
  const base = { id: "deno", title: "Deno" };
  const [major, minor = 0] = env.denoVersion.split(".").map(Number);
  const ok = major === 2 && minor >= 1;
  return Promise.resolve(
    ok ? { ...base, status: "ok", detail: `Deno ${env.denoVersion} (tested with 2.9.6)` } : {
      ...base,
      status: "fail",
      detail: `Deno ${env.denoVersion}; the project needs Deno 2.1 or newer 2.x (tested with 2.9.6)`,
      fix: "Run ./run (it installs Deno 2.9.6 from the npm package `deno` into ~/.local/share/cxr-tools).",
    },
  );
}
