import assert from "node:assert/strict";
import { ipInRange, parseCidr, parseIp } from "./ip_range.ts";

Deno.test("parseIp: strict v4/v6, mapped v4 unmapped, zones and junk refused", () => {
  assert.deepEqual(parseIp("10.1.2.3"), Uint8Array.of(10, 1, 2, 3));
  assert.deepEqual(parseIp("::ffff:10.1.2.3"), Uint8Array.of(10, 1, 2, 3));
  assert.equal(parseIp("::1")?.length, 16);
  assert.equal(parseIp("2001:db8::1:2")?.[15], 2);
  for (
    const bad of [
      "010.1.2.3",
      "256.0.0.1",
      "1.2.3",
      "fe80::1%eth0",
      "1::2::3",
      ":::",
      "1:2:3:4:5:6:7:8:9",
      "",
      "1.2.3.4::",
    ]
  ) {
    assert.equal(parseIp(bad), undefined, bad);
  }
});

Deno.test("parseCidr/ipInRange: prefixes, host bits, families", () => {
  const r = parseCidr("10.1.0.0/16")!;
  assert.ok(ipInRange(parseIp("10.1.255.1")!, r));
  assert.ok(!ipInRange(parseIp("10.2.0.1")!, r));
  assert.ok(!ipInRange(parseIp("::1")!, r));
  assert.equal(parseCidr("10.1.2.3/16"), undefined); // host bits set: ambiguous
  assert.equal(parseCidr("10.0.0.0/33"), undefined);
  assert.equal(parseCidr("::/129"), undefined);
  assert.ok(ipInRange(parseIp("2001:db8::5")!, parseCidr("2001:db8::/32")!));
  assert.ok(ipInRange(parseIp("8.8.8.8")!, parseCidr("0.0.0.0/0")!));
  assert.ok(ipInRange(parseIp("10.0.0.7")!, parseCidr("10.0.0.7")!));
  assert.ok(!ipInRange(parseIp("10.0.0.8")!, parseCidr("10.0.0.7")!));
});
