/**
 * OpenAPI 3.1 document generated from the route table and the zod schemas (never
 * hand-written): each route's method, path, scope, request body and answers.
 *
 * @module
 */
import { z } from "zod";
import { errorSchema } from "../routes/schemas.ts";

/** One documented route. */
export interface RouteDoc {
  method: "get" | "post" | "put";
  /** OpenAPI path template, e.g. `/rewarder/epochs/{epoch_id}`. */
  path: string;
  scope: string | null;
  summary: string;
  body?: z.ZodType;
  answer?: z.ZodType;
  /** Status of the success answer. */
  status?: number;
}

const ERROR_STATUSES = ["400", "401", "403", "404", "409", "413", "415", "429", "503"];

function schemaOf(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { target: "draft-2020-12", io: "input" }) as Record<
    string,
    unknown
  >;
}

/** Builds the OpenAPI 3.1 document. */
export function openApiDocument(
  routes: readonly RouteDoc[],
  version: string,
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const params = [...r.path.matchAll(/\{([a-z_]+)\}/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    const responses: Record<string, unknown> = {
      [String(r.status ?? 200)]: {
        description: "success",
        ...(r.answer ? { content: { "application/json": { schema: schemaOf(r.answer) } } } : {}),
      },
    };
    for (const status of ERROR_STATUSES) {
      responses[status] = {
        description: "error",
        content: { "application/json": { schema: schemaOf(errorSchema) } },
      };
    }
    paths[r.path] ??= {};
    paths[r.path]![r.method] = {
      summary: r.summary,
      ...(params.length > 0 ? { parameters: params } : {}),
      ...(r.scope ? { security: [{ macaroon: [r.scope] }], "x-scope": r.scope } : { security: [] }),
      ...(r.body
        ? {
          requestBody: {
            required: true,
            content: { "application/json": { schema: schemaOf(r.body) } },
          },
        }
        : {}),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "svc-rewarder",
      version,
      description: "Deterministic reward settlement (contract v1).",
    },
    components: {
      securitySchemes: {
        macaroon: {
          type: "http",
          scheme: "Macaroon",
          description: "libmacaroons V2 binary, base64url (contract §9)",
        },
      },
    },
    paths,
  };
}
