import assert from "node:assert/strict";
import { parseBindAddr } from "./bind_addr.ts";
import { resolveLimits, tcpPeer } from "./types.ts";
import { ListenError } from "./types.ts";

Deno.test("parseBindAddr: TCP v4, v6 and names", () => {
  assert.deepEqual(parseBindAddr("127.0.0.1:8090"), {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 8090,
  });
  assert.deepEqual(parseBindAddr("[::1]:0"), { transport: "tcp", hostname: "::1", port: 0 });
  assert.deepEqual(parseBindAddr("localhost:65535"), {
    transport: "tcp",
    hostname: "localhost",
    port: 65535,
  });
});

Deno.test("parseBindAddr: unix paths", () => {
  assert.deepEqual(parseBindAddr("unix:///run/rewarder/api.sock"), {
    transport: "unix",
    path: "/run/rewarder/api.sock",
  });
});

Deno.test("parseBindAddr: rejects bad input without echoing it", () => {
  const bad = [
    "",
    "8090",
    "127.0.0.1",
    "127.0.0.1:65536",
    "127.0.0.1:-1",
    "::1:8090",
    "unix://relative.sock",
    "unix:///a/../b.sock",
    `unix:///${"x".repeat(120)}`,
    "ho st:80",
    "secret-token-<script>:80",
  ];
  for (const input of bad) {
    assert.throws(() => parseBindAddr(input), (error: unknown) => {
      assert.ok(error instanceof ListenError && error.code === "bind_addr_invalid", input);
      if (input.length > 3) assert.ok(!error.message.includes(input), "input echoed");
      return true;
    });
  }
});

Deno.test("tcpPeer: reduces IPv4-mapped IPv6, keeps v6, tolerates a missing address", () => {
  assert.deepEqual(tcpPeer("::ffff:10.1.2.3"), { transport: "tcp", address: "10.1.2.3" });
  assert.deepEqual(tcpPeer("::1"), { transport: "tcp", address: "::1" });
  assert.deepEqual(tcpPeer(undefined), { transport: "tcp" });
});

Deno.test("resolveLimits: defaults, overrides and relation checks", () => {
  assert.equal(resolveLimits(undefined).drainMsMax, 10_000);
  assert.equal(resolveLimits({ drainMsMax: 5 }).drainMsMax, 5);
  assert.throws(() => resolveLimits({ drainMsMax: 0 }), ListenError);
  assert.throws(() => resolveLimits({ idleTimeoutS: 256 }), ListenError);
  assert.throws(
    () => resolveLimits({ headersTimeoutMs: 40_000, requestReceiveTimeoutMs: 30_000 }),
    ListenError,
  );
});
