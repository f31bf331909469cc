/**
 * Headless notebook execution and HTML reports on Deno's Jupyter kernel, notebook parameters, and the
 * host's token-protected Jupyter server.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./notebook.ts";
export * from "./params.ts";
export * from "./runner.ts";
export * from "./jupyter.ts";
export * from "./order.ts";
