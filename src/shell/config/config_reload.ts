/**
 * Applying a configuration reload to the running limiter (docs/RUNBOOK.md, Clamp rates: an operator lowers
 * rate caps on SIGHUP without a restart). Pure apart from the `setRates` call: the lead's
 * listener reads the environment/file, calls {@link applyRateReload} and logs the result.
 *
 * Only the rate caps change live; any other difference is reported in `restartNeeded`.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import type { RateLimiter, Rates } from "../admission/rate_limiter.ts";
import { type Config, type Env, loadConfig } from "./config.ts";

/**
 * Reads CONFIG_RELOAD_PATH (`KEY=VALUE` lines; other lines ignored); no path → no overrides.
 * The values are laid over the start environment and validated by {@link applyRateReload}.
 */
export async function readReloadFile(path: string | undefined): Promise<Record<string, string>> {
  if (path === undefined) return {};
  const out: Record<string, string> = {};
  for (const line of (await readFile(path, "utf8")).split("\n")) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.trim();
  }
  return out;
}

/** The limiter rates a configuration asks for. */
export function ratesOf(config: Config): Rates {
  return {
    ratePerSecondMax: config.ratePerSecondMax,
    burstMax: config.burstMax,
    tenantRatePerSecondMax: config.tenantRatePerSecondMax,
  };
}

/** Outcome of a reload. */
export interface ReloadResult {
  /** The configuration now in force (the old one with the new rates). */
  config: Config;
  /** Rate fields that changed and were applied. */
  applied: Array<keyof Rates>;
  /** Config fields that changed but need a restart (not applied). Names only, no values. */
  restartNeeded: string[];
}

/**
 * Validates `env` as a whole (a bad reload changes nothing and throws ConfigError), then
 * applies changed rate caps to `limiter`.
 *
 * @example
 * ```ts
 * process.on("SIGHUP", () => {
 *   const r = applyRateReload(current, process.env, limiter);
 *   current = r.config;
 * });
 * ```
 */
export function applyRateReload(current: Config, env: Env, limiter: RateLimiter): ReloadResult {
  const next = loadConfig(env);
  const before = ratesOf(current);
  const after = ratesOf(next);
  const applied = (Object.keys(after) as Array<keyof Rates>).filter((k) => before[k] !== after[k]);
  const change: Partial<Rates> = {};
  for (const k of applied) change[k] = after[k];
  if (applied.length > 0) limiter.setRates(change);
  const rateKeys: ReadonlySet<string> = new Set(Object.keys(after));
  const restartNeeded = (Object.keys(next) as Array<keyof Config>).filter((k) =>
    !rateKeys.has(k) && JSON.stringify(current[k]) !== JSON.stringify(next[k])
  );
  return { config: { ...current, ...after }, applied, restartNeeded };
}
