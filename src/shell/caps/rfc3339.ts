/**
 * Strict RFC 3339 UTC instants for `time <` / `time >` caveats (contract §9):
 * `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, uppercase `T` and `Z`, no offsets, no leap seconds,
 * calendar-checked. A fraction finer than a millisecond is truncated, which only ever makes
 * `time <` stricter and leaves `time >` exact for integer-millisecond clocks.
 *
 * @module
 */

const PATTERN =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?Z$/;

/** Parses a strict RFC 3339 UTC instant into epoch milliseconds, or undefined. */
export function parseRfc3339UtcMs(text: string): number | undefined {
  const m = PATTERN.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const fraction = m[7] ?? "";
  const ms = Number((fraction + "000").slice(0, 3));
  if (year < 1970 || month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  const t = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  const d = new Date(t);
  if (d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day) return undefined; // e.g. Feb 30
  return t;
}

/** Formats epoch milliseconds as `YYYY-MM-DDTHH:MM:SSZ`, rounding down to the second. */
export function formatRfc3339UtcS(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new TypeError("Cannot format instant: not a non-negative integer of milliseconds");
  }
  return new Date(ms - (ms % 1000)).toISOString().replace(".000Z", "Z");
}
