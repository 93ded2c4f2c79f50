/**
 * IPv4/IPv6 addresses and CIDR ranges for the `ip` caveat (contract §9), strictly parsed:
 * dotted quads without leading zeros, RFC 4291 text for IPv6 (with `::` and an embedded
 * IPv4 tail), no zone ids. An IPv4-mapped IPv6 peer (`::ffff:a.b.c.d`, as dual-stack Node
 * sockets report) is compared as the IPv4 address.
 *
 * @module
 */

/** An address as bytes (4 or 16). */
export type IpBytes = Uint8Array;

/** A CIDR range; host bits below the prefix must be zero. */
export interface IpRange {
  bytes: IpBytes;
  prefixBits: number;
}

const V4_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const V6_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseV4(text: string): IpBytes | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!V4_OCTET.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6Groups(text: string, groupsWanted: number): number[] | undefined {
  if (text === "") return groupsWanted === 0 ? [] : undefined;
  const parts = text.split(":");
  const out: number[] = [];
  for (const p of parts) {
    if (!V6_GROUP.test(p)) return undefined;
    out.push(parseInt(p, 16));
  }
  return out;
}

function parseV6(text: string): IpBytes | undefined {
  if (text.length > 45 || text.includes("%")) return undefined;
  let head = text;
  let v4Tail: IpBytes | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    v4Tail = parseV4(text.slice(lastColon + 1));
    if (v4Tail === undefined) return undefined;
    head = text.slice(0, lastColon + 1) + "0:0"; // placeholder groups, replaced below
  }
  const doubles = head.split("::");
  if (doubles.length > 2) return undefined;
  let groups: number[];
  if (doubles.length === 2) {
    const left = parseV6Groups(doubles[0]!, 0);
    const right = parseV6Groups(doubles[1]!, 0);
    if (left === undefined || right === undefined) return undefined;
    if (left.length + right.length > 7) return undefined;
    groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  } else {
    const all = parseV6Groups(head, 8);
    if (all === undefined || all.length !== 8) return undefined;
    groups = all;
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  if (v4Tail !== undefined) out.set(v4Tail, 12);
  return out;
}

/** Parses an IPv4 or IPv6 address; IPv4-mapped IPv6 becomes 4 bytes. */
export function parseIp(text: string): IpBytes | undefined {
  if (text.includes(":")) {
    const v6 = parseV6(text);
    if (v6 === undefined) return undefined;
    const mapped = v6.slice(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
    return mapped ? v6.slice(12) : v6;
  }
  return parseV4(text);
}

/**
 * Parses `addr/prefix` (a bare address means a single host). Returns undefined on bad
 * syntax, a prefix out of range, or host bits set (`10.1.2.3/16` is ambiguous: refused).
 * A range is not unmapped: write IPv4 ranges in IPv4 form.
 */
export function parseCidr(text: string): IpRange | undefined {
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const bytes = addrText.includes(":") ? parseV6(addrText) : parseV4(addrText);
  if (bytes === undefined) return undefined;
  const maxBits = bytes.length * 8;
  let prefixBits = maxBits;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    prefixBits = Number(p);
    if (prefixBits > maxBits) return undefined;
  }
  for (let bit = prefixBits; bit < maxBits; bit++) {
    if ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) return undefined;
  }
  return { bytes, prefixBits };
}

/** True when `addr` lies in `range` (same family only). */
export function ipInRange(addr: IpBytes, range: IpRange): boolean {
  if (addr.length !== range.bytes.length) return false;
  for (let bit = 0; bit < range.prefixBits; bit++) {
    const mask = 1 << (7 - (bit & 7));
    if ((addr[bit >> 3]! & mask) !== (range.bytes[bit >> 3]! & mask)) return false;
  }
  return true;
}
