/**
 * The policy registry and the inputs source from the configuration: over HTTP through the
 * downstream client (DOWNSTREAM_TLS, contract §12), or from local directories.
 *
 * @module
 */
import type { GovernanceKeys } from "../../core/policy_envelope.ts";
import type { Config } from "../config/config.ts";
import { getLogger } from "../observe/log.ts";
import type { DownstreamClient } from "./downstream_tls.ts";
import {
  directoryPolicyRegistry,
  httpPolicyRegistry,
  type PolicyRegistry,
} from "./policy_registry.ts";
import { httpInputsSource, type InputsSource, localInputsSource } from "./sources.ts";

/** Builds the policy registry (checked against `gov`) and the inputs source. */
export function buildSources(
  config: Pick<
    Config,
    "policySource" | "inputsSource" | "policyDir" | "dataDir" | "downstreamAttemptMs"
  >,
  deps: {
    gov: GovernanceKeys;
    downstream: Pick<DownstreamClient, "fetch">;
    nowMs: () => number;
  },
): { policies: PolicyRegistry; inputs: InputsSource } {
  const { gov, downstream, nowMs } = deps;
  const log = getLogger("service");
  return {
    policies: config.policySource.kind === "http"
      ? httpPolicyRegistry(config.policySource.baseUrl, () => gov, {
        attemptMs: config.downstreamAttemptMs,
        fetch: downstream.fetch,
      })
      : directoryPolicyRegistry(config.policyDir, () => gov, {
        nowMs,
        onBadFile: (file, reason) => log.warn("policy file refused", { file, reason }),
      }),
    inputs: config.inputsSource.kind === "http"
      ? httpInputsSource(config.inputsSource.baseUrl, {
        attemptMs: config.downstreamAttemptMs,
        fetch: downstream.fetch,
      })
      : localInputsSource(config.dataDir),
  };
}
