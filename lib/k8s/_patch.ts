/**
 * The two patch kinds of our kustomizations: strategic merge (for the cases in `k8s/`: maps merge, lists of
 * named items merge by `name` — containers, ports, env, volumes —, `volumeMounts` by `mountPath`, `null`
 * deletes a key, `$patch: delete` deletes a list item) and JSON 6902 (RFC 6902 through `npm:fast-json-patch`).
 *
 * @module
 */
import jsonPatch, { type Operation } from "fast-json-patch"; // CommonJS: its named exports are not detected

/** One RFC 6902 operation (`add`, `remove`, `replace`, `move`, `copy`, `test`). */
export type JsonPatchOperation = Operation;

/** Whether `v` is a plain mapping (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
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

/**
 * Applies JSON 6902 operations, returning a new object.
 *
 * @throws {RangeError} When a path does not exist (for `replace`/`remove`, or the parent for `add`), or an
 * operation is malformed or its `test` fails.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * const out = applyJsonPatch({ spec: { ports: [{ port: 80 }] } }, [
 *   { op: "replace", path: "/spec/ports/0/port", value: 8080 },
 *   { op: "add", path: "/spec/type", value: "LoadBalancer" },
 * ]);
 * assert.deepEqual(out, { spec: { ports: [{ port: 8080 }], type: "LoadBalancer" } });
 * assert.throws(() => applyJsonPatch({}, [{ op: "remove", path: "/x/y" }]), /"\/x\/y" does not exist/);
 * assert.throws(() => applyJsonPatch({ a: 1 }, [{ op: "test", path: "/a", value: 2 }]), /is invalid: Test operation failed/);
 * ```
 */
export function applyJsonPatch<T>(target: T, ops: readonly JsonPatchOperation[]): T {
  try {
    return jsonPatch.applyPatch(structuredClone(target), [...ops], true, true).newDocument;
  } catch (e) {
    if (!(e instanceof jsonPatch.JsonPatchError)) throw e;
    const op = e.operation as { op?: string; path?: string } | undefined;
    const missing = [
      "OPERATION_PATH_UNRESOLVABLE",
      "OPERATION_PATH_CANNOT_ADD",
      "OPERATION_VALUE_OUT_OF_BOUNDS",
    ];
    throw new RangeError(
      missing.includes(e.name)
        ? `JSON patch ${op?.op} "${op?.path}" does not exist`
        : `JSON patch operation ${JSON.stringify(op)} is invalid: ${e.message.split("\n")[0]}`,
      { cause: e },
    );
  }
}
