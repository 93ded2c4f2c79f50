/**
 * Turns a zod failure into a {@link RewarderError} naming the first offending field path and
 * never its value (zod messages can quote input, so they are not used).
 *
 * @module
 */
import type { z } from "zod";
import { badRequest, type RewarderError } from "./errors.ts";

/** Renders a zod issue path as `a.b[3].c`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "$";
  for (const part of path) {
    out += typeof part === "number" ? `[${part}]` : `.${String(part)}`;
  }
  return out;
}

/** A 400 `schema` error for the first issue of a zod error. */
export function schemaError(
  error: z.core.$ZodError,
  prefix: readonly PropertyKey[] = [],
): RewarderError {
  const first = error.issues[0];
  return badRequest("schema", formatPath([...prefix, ...(first?.path ?? [])]));
}
