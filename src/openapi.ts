/**
 * OpenAPI 3.1 document generated from the route table, the zod schemas and the reasons table
 * (never hand-written): each route's method, path, scope, parameters, request body and
 * answers; every error status lists the reasons it may carry (contract §8) and the error body
 * its `field`; immutable answers document their ETag and 304 (contract §10).
 *
 * @module
 */
import { z } from "zod";
import { errorSchema } from "./api/schemas.ts";
import { IMMUTABLE_CACHE_CONTROL } from "../routes/immutable.ts";
import { REASONS, reasonsOfStatus } from "./core/reasons.ts";

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
  /** Path parameters and query, documented from the route's validators' schemas. */
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** An immutable answer (contract §10): ETag, immutable Cache-Control, 304. */
  immutable?: boolean;
}

/** Every error status of the reasons table, in order. */
const ERROR_STATUSES = [...new Set(Object.values(REASONS).map((r) => r.status))].sort((a, b) =>
  a - b
).map(String);

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
    const responses: Record<string, unknown> = {
      [String(r.status ?? 200)]: {
        description: "success",
        ...(r.immutable ? { headers: IMMUTABLE_HEADERS } : {}),
        ...(r.answer ? { content: { "application/json": { schema: schemaOf(r.answer) } } } : {}),
      },
    };
    if (r.immutable) {
      responses["304"] = {
        description: "If-None-Match matched (RFC 9110 weak comparison): no body",
        headers: IMMUTABLE_HEADERS,
      };
    }
    for (const status of ERROR_STATUSES) {
      responses[status] = {
        description: `error; reason one of: ${reasonsOfStatus(Number(status)).join(", ")}`,
        content: { "application/json": { schema: schemaOf(errorSchema) } },
      };
    }
    paths[r.path] ??= {};
    paths[r.path]![r.method] = {
      summary: r.summary,
      ...parametersOf(r),
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
      description: "Deterministic reward settlement (contract v2).",
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

const IMMUTABLE_HEADERS = {
  ETag: {
    description: 'Strong entity tag: the quoted manifest_hash, e.g. "b3:…"',
    schema: { type: "string" },
  },
  "Cache-Control": { schema: { type: "string", const: IMMUTABLE_CACHE_CONTROL } },
};

function parametersOf(r: RouteDoc): { parameters?: unknown[] } {
  const names = [...r.path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]!);
  const params = names.map((name) => ({
    name,
    in: "path",
    required: true,
    schema: r.params?.shape[name] ? schemaOf(r.params.shape[name] as z.ZodType) : {
      type: "string",
    },
  }));
  const query = Object.entries(r.query?.shape ?? {}).map(([name, schema]) => ({
    name,
    in: "query",
    required: false,
    schema: schemaOf(schema as z.ZodType),
  }));
  if (r.immutable) {
    params.push(
      {
        name: "If-None-Match",
        in: "header",
        required: false,
        schema: { type: "string" },
      } as (typeof params)[number],
    );
  }
  const all = [...params, ...query];
  return all.length > 0 ? { parameters: all } : {};
}
