/**
 * Turns a zod failure into a {@link RewarderError} naming the first offending field path and
 * never its value (zod messages can quote input, so they are not used).
 *
 * @module
 */
import type { z } from "zod";
import { badRequest, type RewarderError } from "./errors.ts";

/**
 * Renders a zod issue path as contract §8 names fields: `root.a.b[3].c`, or bare `a.b[3].c`
 * when `root` is `""` (body members), `""` for the top level of a body.
 *
 * @example
 * ```ts
 * formatPath(["entries", 3, "account"], "inputs"); // "inputs.entries[3].account"
 * formatPath(["policy_hash"]); // "policy_hash"
 * ```
 */
export function formatPath(path: readonly PropertyKey[], root = "$"): string {
  let out = root;
  for (const part of path) {
    out += typeof part === "number" ? `[${part}]` : `${out === "" ? "" : "."}${String(part)}`;
  }
  return out;
}

/**
 * A 400 `schema` error for the first issue of a zod error, its field named under `root`
 * (`""` for a request body, `inputs` or `policy` for fetched documents, contract §8).
 */
export function schemaError(error: z.core.$ZodError, root = ""): RewarderError {
  const first = error.issues[0];
  return badRequest("schema", formatPath(first?.path ?? [], root));
}
