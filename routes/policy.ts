/**
 * `GET /rewarder/policy/{policy_id}[?hash=b3:…]` (contract §10): the signed policy envelope,
 * the newest version or the one `hash` names.
 *
 * @module
 */
import { createFactory } from "hono/factory";
import type { AppServices } from "../src/shell/app_services.ts";
import type { AppEnv } from "../middleware/context.ts";
import { policyParamSchema, policyQuerySchema } from "../src/api/schemas.ts";
import { validParam, validQuery } from "./validate.ts";

const factory = createFactory<AppEnv>();

/** `GET /rewarder/policy/{policy_id}[?hash=b3:…]`. */
export function policyHandlers(s: Pick<AppServices, "policies">) {
  return factory.createHandlers(
    validParam(policyParamSchema),
    validQuery(policyQuerySchema),
    async function policy(c) {
      const { policy_id: policyId } = c.req.valid("param");
      const { hash } = c.req.valid("query");
      const envelope = await s.policies.envelope(policyId, hash, c.get("deadline"));
      return c.json(envelope as Record<string, unknown>);
    },
  );
}
