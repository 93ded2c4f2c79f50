/**
 * The edge's counters, exposed at `/metrics` in the Prometheus text format (0.0.4). A few
 * counters and gauges in memory: prom-client would pull node-only modules into a module graph
 * that must run on Deno Deploy as is. Label values come from fixed sets, never from requests.
 *
 * @module
 */

/** Routes as labelled (a fixed set). */
export type EdgeRoute = "epoch" | "proof" | "keys" | "healthz" | "metrics" | "other";

/** Why an origin read failed, besides integrity (a fixed set). */
export type OriginFailure = "source_unreachable" | "source_status" | "source_oversize";

/** Counters of one edge app. */
export class EdgeMetrics {
  /** Published epochs refused by the §13 checks (503 `origin_integrity`). */
  originIntegrityFailures = 0;
  readonly originFailures = new Map<OriginFailure, number>();
  readonly responses = new Map<string, number>();
  readonly cacheHits = new Map<"envelopes" | "proof_leaves", number>();
  readonly cacheMisses = new Map<"envelopes" | "proof_leaves", number>();
  /** Read at render time (the caches report their current size). */
  cacheBytes: () => { envelopes: number; proof_leaves: number } = () => ({
    envelopes: 0,
    proof_leaves: 0,
  });

  /** Counts one answer. */
  response(route: EdgeRoute, status: number): void {
    const key = `route="${route}",status="${status}"`;
    this.responses.set(key, (this.responses.get(key) ?? 0) + 1);
  }

  /** Counts one cache lookup. */
  cache(name: "envelopes" | "proof_leaves", hit: boolean): void {
    const map = hit ? this.cacheHits : this.cacheMisses;
    map.set(name, (map.get(name) ?? 0) + 1);
  }

  /** Counts one failed origin read. */
  originFailure(reason: OriginFailure): void {
    this.originFailures.set(reason, (this.originFailures.get(reason) ?? 0) + 1);
  }

  /** The Prometheus text exposition. */
  render(): string {
    const lines: string[] = [];
    const family = (name: string, type: string, help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) {
        lines.push(`${name}${labels === "" ? "" : `{${labels}}`} ${value}`);
      }
    };
    family(
      "edge_origin_integrity_failures_total",
      "counter",
      "Published epochs refused by the publication checks (contract 13), never served.",
      [["", this.originIntegrityFailures]],
    );
    const reasons: OriginFailure[] = ["source_unreachable", "source_status", "source_oversize"];
    family(
      "edge_origin_failures_total",
      "counter",
      "Origin reads that failed before any check.",
      reasons.map((r) => [`reason="${r}"`, this.originFailures.get(r) ?? 0]),
    );
    family(
      "edge_responses_total",
      "counter",
      "Answers by route and status.",
      [...this.responses.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    const caches = ["envelopes", "proof_leaves"] as const;
    family(
      "edge_cache_hits_total",
      "counter",
      "Cache lookups that hit.",
      caches.map((c) => [`cache="${c}"`, this.cacheHits.get(c) ?? 0]),
    );
    family(
      "edge_cache_misses_total",
      "counter",
      "Cache lookups that missed.",
      caches.map((c) => [`cache="${c}"`, this.cacheMisses.get(c) ?? 0]),
    );
    const bytes = this.cacheBytes();
    family(
      "edge_cache_bytes",
      "gauge",
      "Bytes held by each cache.",
      caches.map((c) => [`cache="${c}"`, bytes[c]]),
    );
    return lines.join("\n") + "\n";
  }
}
