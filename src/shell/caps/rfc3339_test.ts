import assert from "node:assert/strict";
import { formatRfc3339UtcS, parseRfc3339UtcMs } from "./rfc3339.ts";

Deno.test("RFC 3339 UTC: strict parse, calendar-checked, fraction truncated", () => {
  assert.equal(parseRfc3339UtcMs("2026-12-01T00:00:00Z"), Date.UTC(2026, 11, 1));
  assert.equal(parseRfc3339UtcMs("2026-12-01T00:00:00.1239Z"), Date.UTC(2026, 11, 1) + 123);
  for (
    const bad of [
      "2026-12-01T00:00:00+00:00",
      "2026-12-01t00:00:00z",
      "2026-02-30T00:00:00Z",
      "2026-12-01 00:00:00Z",
      "2026-12-01T24:00:00Z",
      "2026-12-01T00:00:60Z",
      "2026-12-01T00:00:00.Z",
      "+2026-12-01T00:00:00Z",
    ]
  ) {
    assert.equal(parseRfc3339UtcMs(bad), undefined, bad);
  }
  assert.equal(formatRfc3339UtcS(Date.UTC(2026, 10, 27, 1, 2, 3, 999)), "2026-11-27T01:02:03Z");
});
