/**
 * Finds the Python interpreter that has Jupyter's libraries (Debian's `/usr/bin/python3` with
 * python3-nbclient), not whichever `python3` a pyenv or virtualenv puts first on PATH.
 *
 * @module
 */
import { JupyterNotFoundError } from "./errors.ts";

const cache = new Map<string, string>();

/**
 * Returns the first interpreter among `CXR_PYTHON`, `/usr/bin/python3` and `python3` that can import
 * `nbclient`, `nbconvert` and `notebook`.
 *
 * @throws {JupyterNotFoundError} if none can.
 * @example
 * ```ts ignore
 * const python = await findPython(); // "/usr/bin/python3" on Debian
 * ```
 */
export async function findPython(
  candidates: string[] = [Deno.env.get("CXR_PYTHON") ?? "", "/usr/bin/python3", "python3"].filter(Boolean),
): Promise<string> {
  const key = candidates.join("\0");
  const hit = cache.get(key);
  if (hit) return hit;
  for (const c of candidates) {
    try {
      const out = await new Deno.Command(c, {
        args: ["-c", "import nbclient, nbconvert, notebook"],
        env: { PYDEVD_DISABLE_FILE_VALIDATION: "1" },
        stdout: "null",
        stderr: "null",
      }).output();
      if (out.success) {
        cache.set(key, c);
        return c;
      }
    } catch { /* not installed */ }
  }
  throw new JupyterNotFoundError(
    `No Python with Jupyter (nbclient, nbconvert) found; tried ${candidates.join(", ")}. ` +
      "Run scripts/install_kernel.sh (Debian: jupyter-notebook jupyter-nbconvert python3-nbclient " +
      "python3-ipykernel jupyter-client), or set CXR_PYTHON",
    candidates,
  );
}
