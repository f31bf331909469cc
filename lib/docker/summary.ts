/**
 * Size and layers of an image (`GET /images/{name}/history`) as text and as a table in Jupyter, for notebook 02.
 *
 * @module
 */
import { escapeHtml, htmlTable, JUPYTER_DISPLAY } from "../display.ts";
import { DockerClient } from "./client.ts";
import type { ImageLayer } from "./format.ts";

/**
 * Size and layers of one image, rendering as a table in Jupyter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JUPYTER_DISPLAY } from "../display.ts";
 * const layer = { id: "sha256:1", created: new Date(0), createdBy: "/bin/sh -c #(nop)  EXPOSE 8080", size: 0, tags: [] };
 * const summary = new ImageSummary("cxr-scoring:1", 2e6, [layer]);
 * assert.equal(String(summary), "cxr-scoring:1: 2.0 MB, 1 layers\n    0.0 MB  EXPOSE 8080");
 * assert.match(summary[JUPYTER_DISPLAY]()["text/html"] ?? "", /<code>EXPOSE 8080<\/code>/);
 * ```
 */
export class ImageSummary {
  constructor(readonly image: string, readonly size: number, readonly layers: ImageLayer[]) {}

  /** Plain text: size, then one line per layer with its size and instruction. */
  toString(): string {
    const rows = this.layers.map((l) => `${mb(l.size).padStart(10)}  ${instruction(l.createdBy)}`);
    return [`${this.image}: ${mb(this.size)}, ${this.layers.length} layers`, ...rows].join("\n");
  }

  /** Size line and a table of layers (HTML), for Jupyter. */
  [JUPYTER_DISPLAY](): Record<string, string> {
    const rows = this.layers.map((l) => [
      { text: mb(l.size), style: "text-align:right" },
      { html: `<code>${escapeHtml(instruction(l.createdBy))}</code>` },
    ]);
    return {
      "text/plain": this.toString(),
      "text/html": `<p><b>${escapeHtml(this.image)}</b>: ${mb(this.size)}, ` +
        `${this.layers.length} layers</p>${htmlTable(["size", "instruction"], rows)}`,
    };
  }
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function instruction(createdBy: string): string {
  const s = createdBy.replace(/^\/bin\/sh -c #\(nop\)\s*/, "").replace(/^\/bin\/sh -c /, "RUN ").trim();
  return s.length > 120 ? s.slice(0, 117) + "..." : s;
}

/**
 * Size and layers of an image (`name:tag` or id), for notebook 02 and `cxr image ls`.
 *
 * @example
 * ```ts ignore
 * console.log(String(await describeImage("cxr-scoring:latest")));
 * ```
 */
export async function describeImage(
  image: string,
  options: { docker?: DockerClient } = {},
): Promise<ImageSummary> {
  const docker = options.docker ?? await DockerClient.connect();
  try {
    const info = await docker.inspectImage(image);
    return new ImageSummary(image, info.size, await docker.history(image));
  } finally {
    if (!options.docker) docker.close();
  }
}
