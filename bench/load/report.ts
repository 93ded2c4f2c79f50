/**
 * Renders bench/load/run.ts results as the "Load" and "Service performance" sections of
 * docs/RESULTS.md, between the load-bench markers (other sections are left as they are).
 *
 * @module
 */

const BEGIN = "<!-- load-bench:begin -->";
const END = "<!-- load-bench:end -->";

// deno-lint-ignore no-explicit-any
type Any = any;

const n = (
  x: unknown,
) => (typeof x === "number" && Number.isFinite(x) ? x.toLocaleString("en-US") : "—");

/** Notes that the data alone does not say (kept here so a rerun keeps them). */
export const NOTES = [
  "Client and server share the same 2 cores (wrk or the Deno client takes one), so absolute " +
  "throughput is a floor for a dedicated machine; the service/bare ratio is the figure to compare.",
  "Compute p99 is nearest-rank over n sequential samples (n < 100: it is the slowest sample).",
  "Each compute sample is a distinct epoch (distinct run key), so it is a real compute, never a " +
  "replay: fetch inputs from the local store, verify the CID, engine (the worker pool, on every " +
  "runtime), seal, record, journal intent. Replay = the same compute body again (registry hit).",
  "Bare Hono answers the GET and the replay with the same JSON (the service's captured " +
  "answers, re-serialised with `c.json`) on the same listener code.",
];

function machineLine(m: Any): string {
  return `Measured ${String(m.date).slice(0, 16).replace("T", " ")} UTC on ${m.cores} cores, ` +
    `${m.cpu}, ${m.memGiB} GiB RAM; ${String(m.deno).replace(/\s+/g, " ")}, bun ${m.bun}, ` +
    `node ${m.node}, ${m.wrk}; load average at start ${
      (m.loadavgAtStart as number[]).map((x) => x.toFixed(2)).join(" ")
    } (shared machine).`;
}

function loadSection(r: Any): string {
  const out: string[] = ["## Load", ""];
  out.push(machineLine(r.checksMachine ?? r.machine), "");
  out.push(
    "```sh",
    "deno run --allow-all bench/load/run.ts --skip-perf   # checks only (Deno)",
    "```",
    "",
  );
  for (const c of r.checks as Any[]) {
    if (c.rate) {
      const x = c.rate;
      out.push(
        `### Rate limit (${x.runtime}): ${x.config.offeredRps} RPS offered for ${
          x.config.durationMs / 1000
        } s, ` +
          `MAX_RPS=${x.config.maxRps} RATE_BURST=${x.config.burst} TENANT_RPS_MAX=${x.config.tenantRpsMax}`,
        "",
        `Open-loop client (bench/load/open_loop.ts) on \`${x.route}\`.`,
        "",
        "| sent | offered RPS | admitted (200) | 429 | other | expected: 500 × 10 s + burst | last answer at | expected over that span | admitted ÷ expected (span) | 429 Retry-After |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        `| ${n(x.sent)} | ${n(x.offeredRps)} | **${n(x.admitted)}** | **${n(x.rejected429)}** | ${
          n(x.sent - x.admitted - x.rejected429)
        } | ${n(x.expectedAdmitted)} | ${x.lastAnswerS} s | ${
          n(x.expectedAdmittedOverAnswerSpan)
        } | ${(x.admitted / x.expectedAdmittedOverAnswerSpan).toFixed(3)} | ${
          x.retryAfterValues.join(", ")
        } s |`,
        "",
        `Admitted per second of sending: ${
          x.admittedPerSecond.join(", ")
        } (mean of seconds 2–10: ${x.steadyAdmittedRps}); ` +
          `429 per second: ${x.rejectedPerSecond.join(", ")}. ` +
          `Latency p50/p99: admitted ${x.latencyAdmitted?.p50Ms}/${x.latencyAdmitted?.p99Ms} ms, ` +
          `429 ${x.latencyRejected?.p50Ms}/${x.latencyRejected?.p99Ms} ms (429s carry the 0–25 ms error jitter). ` +
          `Network errors ${x.networkErrors}, client drops ${x.dropped}; \`/healthz\` after: ${x.healthzAfter}. ` +
          (x.dropped === 0 && x.networkErrors === 0
            ? "The client kept the offer (no drops)."
            : "**The client could not keep the offer (drops or errors): the machine was overloaded; rerun when it is quiet.**"),
        "",
      );
    }
    if (c.concurrency) {
      const x = c.concurrency;
      const t = x.the513th;
      out.push(
        `### Concurrency cap (${x.runtime}): ${x.config.OFFERED} slow computes, MAX_INFLIGHT=${x.config.INFLIGHT_MAX}`,
        "",
        `Slow downstream: INPUTS_SOURCE points at a loopback accounting service that holds each ` +
          `request ${x.config.HOLD_MS} ms before answering (below REQUEST_TIMEOUT_MS ${x.config.REQUEST_TIMEOUT_MS}); ` +
          `rate caps lifted (MAX_RPS=RATE_BURST=TENANT_RPS_MAX=100000) so only the in-flight cap acts.`,
        "",
        "| step | result |",
        "|---|---|",
        `| ${x.config.INFLIGHT_MAX} computes sent at once | ${x.heldAtSource} reached the slow source after ${x.allHeldAfterMs} ms; \`http_inflight_requests\` = ${x.inflightGauge}; \`/readyz\` ${x.readyz.status} ${
          JSON.stringify(x.readyz.body)
        } |`,
        `| request ${x.config.INFLIGHT_MAX + 1} | **${t.status} ${
          t.code ?? ""
        }**, Retry-After ${t.retryAfter} s, in ${t.ms.toFixed(1)} ms |`,
        `| ${x.config.OFFERED - x.config.INFLIGHT_MAX - 1} more | ${
          JSON.stringify(x.rest.histogram)
        }, p50/p99 ${x.rest.latency.p50Ms}/${x.rest.latency.p99Ms} ms, Retry-After ${
          x.rest.retryAfter.join(",")
        } s |`,
        `| \`/healthz\` idle (n=${x.healthzBaseline.n}) | p50 ${x.healthzBaseline.p50Ms} ms, p99 ${x.healthzBaseline.p99Ms} ms, max ${x.healthzBaseline.maxMs} ms |`,
        `| \`/healthz\` while ${x.config.INFLIGHT_MAX} held (n=${x.healthzWhileSaturated.n}) | **p50 ${x.healthzWhileSaturated.p50Ms} ms, p99 ${x.healthzWhileSaturated.p99Ms} ms, max ${x.healthzWhileSaturated.maxMs} ms**, failures ${x.healthzWhileSaturated.failures} |`,
        `| \`/healthz\` whole run incl. release of the ${x.config.INFLIGHT_MAX} into the engine (n=${x.healthzWholeRun.n}) | p50 ${x.healthzWholeRun.p50Ms} ms, p99 ${x.healthzWholeRun.p99Ms} ms, max ${x.healthzWholeRun.maxMs} ms, failures ${x.healthzWholeRun.failures} |`,
        `| the ${x.config.INFLIGHT_MAX} held, once released | ${
          JSON.stringify(x.heldFinal.histogram)
        } (first answer at ${x.firstHeldAnswerMs} ms) |`,
        "",
      );
    }
  }
  return out.join("\n");
}

function perfSection(r: Any): string {
  const out: string[] = ["## Service performance", ""];
  out.push(machineLine(r.perfMachine ?? r.machine), "");
  out.push(
    "```sh",
    "apt-get install -y wrk   # the throughput points use wrk",
    "deno run --allow-all bench/load/run.ts --skip-checks --skip-compute   # all runtimes, ~90 s",
    "```",
    "",
  );
  const perf = r.perf as Any[];
  const computed = perf.some((p) => Object.keys(p.compute ?? {}).length > 0);
  if (computed) {
    out.push(
      "### Compute over HTTP (sequential, distinct epochs)",
      "",
      "| runtime | S 1k p50 / p99 ms (n) | M 10k p50 / p99 ms (n) | L 50k p50 / p99 ms (n) | failures |",
      "|---|---:|---:|---:|---|",
    );
    for (const p of perf) {
      const c = p.compute ?? {};
      const cell = (k: string) =>
        c[k] && c[k].n > 0 ? `${c[k].p50Ms} / ${c[k].p99Ms} (${c[k].n})` : "not measured";
      const errs = Object.entries(c).flatMap(([k, v]: [string, Any]) =>
        Object.entries(v.errors ?? {}).map(([e, count]) => `${k}: ${count}× ${e}`)
      );
      out.push(
        `| ${p.runtime} | ${cell("S")} | ${cell("M")} | ${cell("L")} | ${
          errs.join("; ") || "none"
        } |`,
      );
    }
    out.push("");
    const sizes = perf[0]?.compute;
    if (sizes) {
      out.push(
        `Inputs sizes: S ${n(sizes.S?.inputsBytes)} B, M ${n(sizes.M?.inputsBytes)} B, L ${
          n(sizes.L?.inputsBytes)
        } B.`,
        "",
      );
    }
  }
  out.push(
    `### Replayed compute and GET manifest vs bare Hono (wrk ${r.params.WRK.threads} thread, ${r.params.WRK.connections} connections, ${r.params.WRK.warmS} s warm-up + ${r.params.WRK.measureS} s)`,
    "",
    `One committed ${
      n(r.params.TARGET_RECIPIENTS ?? 1_000)
    }-recipient epoch, rate caps lifted; a replay is the same compute body again (registry hit).`,
    "",
    "| runtime | route | service req/s | service p50 / p99 ms | bare Hono req/s | bare p50 / p99 ms | service ÷ bare | answer bytes (service / bare) | non-2xx |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
  );
  for (const p of perf) {
    for (
      const [label, s, b] of [
        ["GET /rewarder/epochs/{id}", p.serviceGet, p.bareGet],
        ["POST …/compute (replay)", p.serviceReplay, p.bareReplay],
      ] as const
    ) {
      if (!s) {
        out.push(`| ${p.runtime} | ${label} | not measured | | | | | | |`);
        continue;
      }
      out.push(
        `| ${p.runtime} | ${label} | **${n(s.rps)}** | ${s.p50Ms} / ${s.p99Ms} | ${
          n(b?.rps)
        } | ${b?.p50Ms} / ${b?.p99Ms} | ${b ? (s.rps / b.rps).toFixed(2) : "—"} | ${
          n(s.bytesPerRequest)
        } / ${n(b?.bytesPerRequest)} | ${s.non2xx + (b?.non2xx ?? 0)} |`,
      );
    }
  }
  out.push("", "Server processes (`BIND_ADDR=127.0.0.1:0`, DATA_DIR a fresh temp dir):", "");
  for (const p of perf) {
    out.push(
      `- ${p.runtime}: service \`${p.serviceCommand}\` (RSS after the run ${
        p.serviceRssMiB?.rss ?? "?"
      } MiB, peak ${p.serviceRssMiB?.peak ?? "?"} MiB); bare \`${p.bareCommand ?? "not run"}\``,
    );
  }
  const wrkCmd = perf.find((p) => p.serviceReplay)?.serviceReplay?.command;
  if (wrkCmd) {
    out.push("", `wrk invocation (per point, after a warm-up of the same): \`${wrkCmd}\``);
  }
  out.push("", "Notes:", "", ...NOTES.map((x) => `- ${x}`));
  out.push("", `Raw figures: \`bench/results/load.json\` (whole bench ${r.elapsedS} s).`, "");
  return out.join("\n");
}

/** Returns `doc` with the load-bench block replaced (or appended). */
export function renderDocs(doc: string, r: Any): string {
  const parts: string[] = [];
  if ((r.checks as unknown[]).length > 0) parts.push(loadSection(r));
  if ((r.perf as unknown[]).length > 0) parts.push(perfSection(r));
  const block = `${BEGIN}\n${parts.join("\n")}${END}\n`;
  const i = doc.indexOf(BEGIN);
  const j = doc.indexOf(END);
  if (i >= 0 && j > i) return doc.slice(0, i) + block + doc.slice(j + END.length + 1);
  return doc.replace(/\n*$/, "\n\n") + block;
}
