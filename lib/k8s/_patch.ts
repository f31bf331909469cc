/**
 * The two patch kinds of our kustomizations: strategic merge (for the cases in `k8s/`: maps merge, lists of
 * named items merge by `name` — containers, ports, env, volumes —, `volumeMounts` by `mountPath`, `null`
 * deletes a key, `$patch: delete` deletes a list item) and JSON 6902 (`add`, `replace`, `remove`).
 *
 * @module
 */

/** One JSON 6902 operation. */
export interface JsonPatchOperation {
  op: "add" | "replace" | "remove";
  path: string;
  value?: unknown;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const MERGE_KEYS = ["name", "mountPath", "containerPort", "port"];

function mergeKeyOf(items: unknown[]): string | undefined {
  return MERGE_KEYS.find((k) => items.length > 0 && items.every((i) => isObject(i) && i[k] !== undefined));
}

/**
 * Strategic merge of `patch` into `base`, returning a new value (the inputs are not changed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const base = { spec: { containers: [{ name: "a", image: "x", ports: [{ containerPort: 1 }] }], replicas: 2 } };
 * const out = strategicMerge(base, { spec: { containers: [{ name: "a", image: "y" }], replicas: null } });
 * assert.deepEqual(out, { spec: { containers: [{ name: "a", image: "y", ports: [{ containerPort: 1 }] }] } });
 * ```
 */
export function strategicMerge(base: unknown, patch: unknown): unknown {
  if (isObject(base) && isObject(patch)) {
    const out: Record<string, unknown> = structuredClone(base);
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else out[k] = k in base ? strategicMerge(base[k], v) : structuredClone(v);
    }
    return out;
  }
  if (Array.isArray(base) && Array.isArray(patch)) {
    const key = mergeKeyOf([...base, ...patch]);
    if (!key) return structuredClone(patch);
    const out = structuredClone(base) as Record<string, unknown>[];
    for (const item of patch as Record<string, unknown>[]) {
      const i = out.findIndex((o) => o[key] === item[key]);
      if (item.$patch === "delete") {
        if (i >= 0) out.splice(i, 1);
      } else if (i >= 0) out[i] = strategicMerge(out[i], item) as Record<string, unknown>;
      else out.push(structuredClone(item));
    }
    return out;
  }
  return structuredClone(patch);
}

function unescape(token: string): string {
  return token.replace(/~1/g, "/").replace(/~0/g, "~");
}

/**
 * Applies JSON 6902 operations, returning a new object.
 *
 * @throws {RangeError} When a path does not exist (for `replace`/`remove`, or the parent for `add`).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const out = applyJsonPatch({ spec: { ports: [{ port: 80 }] } }, [
 *   { op: "replace", path: "/spec/ports/0/port", value: 8080 },
 *   { op: "add", path: "/spec/type", value: "LoadBalancer" },
 * ]);
 * assert.deepEqual(out, { spec: { ports: [{ port: 8080 }], type: "LoadBalancer" } });
 * assert.throws(() => applyJsonPatch({}, [{ op: "remove", path: "/x/y" }]), /"\/x\/y" does not exist/);
 * ```
 */
export function applyJsonPatch<T>(target: T, ops: readonly JsonPatchOperation[]): T {
  const out = structuredClone(target) as unknown;
  for (const op of ops) {
    if (!["add", "replace", "remove"].includes(op.op) || typeof op.path !== "string") {
      throw new RangeError(`JSON patch operation ${JSON.stringify(op)} is not add, replace or remove`);
    }
    const tokens = op.path.split("/").slice(1).map(unescape);
    const last = tokens.pop();
    let parent: unknown = out;
    for (const t of tokens) {
      parent = Array.isArray(parent) ? parent[Number(t)] : isObject(parent) ? parent[t] : undefined;
    }
    const missing = () => new RangeError(`JSON patch ${op.op} "${op.path}" does not exist`);
    if (last === undefined || (!Array.isArray(parent) && !isObject(parent))) throw missing();
    if (Array.isArray(parent)) {
      const i = last === "-" ? parent.length : Number(last);
      if (!Number.isInteger(i) || i < 0 || i > parent.length || (op.op !== "add" && i >= parent.length)) {
        throw missing();
      }
      if (op.op === "add") parent.splice(i, 0, structuredClone(op.value));
      else if (op.op === "replace") parent[i] = structuredClone(op.value);
      else parent.splice(i, 1);
    } else {
      if (op.op !== "add" && !(last in parent)) throw missing();
      if (op.op === "remove") delete parent[last];
      else parent[last] = structuredClone(op.value);
    }
  }
  return out as T;
}
