/**
 * `POST /rewarder/epochs/{epoch_id}/compute` (contract §10): validate the path and the body,
 * call the compute use case (contract §5 order, in `src/shell/registry/compute_run.ts`),
 * answer the run record.
 *
 * @module
 */
import { createFactory } from "hono/factory";
import { getLogger } from "../src/shell/observe/log.ts";
import { type ComputeDeps, computeRun } from "../src/shell/registry/compute_run.ts";
import type { AppEnv } from "../middleware/context.ts";
import { computeBodySchema, epochParamSchema, noQuerySchema } from "../src/api/schemas.ts";
import { strictJsonBody, validJson, validParam, validQuery } from "./validate.ts";
import { jsonAnswer } from "./json_answer.ts";

const factory = createFactory<AppEnv>();
const log = getLogger("compute");

/** The compute route's handlers: validators, then the handler; given the use case's services. */
export function computeHandlers(s: ComputeDeps) {
  return factory.createHandlers(
    validParam(epochParamSchema),
    validQuery(noQuerySchema),
    strictJsonBody(),
    validJson(computeBodySchema),
    async function compute(c) {
      const { epoch_id: epochId } = c.req.valid("param");
      const body = c.req.valid("json");
      const auth = c.get("auth");
      const record = await computeRun(s, {
        tenant: auth.tenant,
        epochId,
        corrId: c.get("corrId"),
        body,
        signal: c.get("deadline"),
        maxRuns: auth.maxRuns,
      });
      const fields = () => ({
        tenant: auth.tenant,
        corr_id: c.get("corrId"),
        run_key: record.run_key,
        policy_hash: body.policy_hash,
        inputs_cid: body.inputs_cid,
        outcome: `${record.status}/${record.emission}${record.replayed ? "/replayed" : ""}`,
      });
      // A decision is a line; a replay decides nothing (it is counted by the audit trail's
      // per-minute summary, docs/RUNBOOK.md "Audit log"), so its line is debug-level only.
      if (record.replayed) log.debug("run {outcome}", fields);
      else log.info("run {outcome}", fields());
      return jsonAnswer(c, record);
    },
  );
}
