/**
 * Cross-runtime conformance suite: HTTP-level behaviour of a running server, written with
 * `node:test` so it runs unchanged under `deno test`, `bun test` and `node --test` (Node runs
 * the bundle dist/suite.mjs; scripts/bundle.sh builds it).
 *
 * Environment:
 * - CONFORMANCE_URL=http://127.0.0.1:PORT or CONFORMANCE_UNIX=/abs/path.sock (one required);
 * - CONFORMANCE_FIXTURE=1 also runs the checks that need the fixture's routes
 *   (tests/conformance/fixture_server.ts): /echo-peer, /echo-json, /slow.
 *
 * The generic block holds for any of our servers (the real main.ts too): /healthz, 404,
 * keep-alive, chunked requests, concurrency, malformed requests.
 *
 * @module
 */
import assert from "node:assert/strict";
import process from "node:process";
import { describe, it } from "node:test";
import {
  hostHeader,
  rawExchange,
  send,
  statusLines,
  type Target,
  targetFromEnv,
} from "./client.ts";

/** Parallel requests in the concurrency check (well under any MAX_INFLIGHT). */
const PARALLEL_REQUESTS = 24;
/** A body comfortably above one TCP segment and below REQ_BODY_MAX (1 MiB). */
const LARGE_BODY_BYTES = 512 * 1024;

const target = targetFromEnv();
const fixture = process.env.CONFORMANCE_FIXTURE === "1";
/** Set by the harness for the real service (from its embedded-default banner). */
const service = process.env.CONFORMANCE_TOKEN
  ? {
    token: process.env.CONFORMANCE_TOKEN,
    epochPath: process.env.CONFORMANCE_EPOCH_PATH ?? "",
    body: process.env.CONFORMANCE_COMPUTE_BODY ?? "",
  }
  : undefined;

if (target === undefined) {
  describe("conformance", () => {
    it("has a target", () => {
      assert.fail("set CONFORMANCE_URL=http://host:port or CONFORMANCE_UNIX=/path.sock");
    });
  });
} else {
  describeGeneric(target);
  if (fixture) describeFixture(target);
  if (service) describeService(target, service);
}

/** The contract over the wire (§8, §10), identical on every runtime. */
function describeService(
  t: Target,
  svc: { token: string; epochPath: string; body: string },
): void {
  const auth = { authorization: `Macaroon ${svc.token}` };
  const json = { "content-type": "application/json" };
  describe(`svc-rewarder contract over ${t.transport}`, () => {
    it("publishes its version, keys and OpenAPI document", async () => {
      const version = JSON.parse((await send(t, "GET", "/version")).text);
      assert.equal(version.contract, "v2");
      const keys = JSON.parse((await send(t, "GET", "/rewarder/keys")).text);
      assert.ok(
        keys.keys.some((k: { alg: string; status: string }) =>
          k.alg === "ed25519" && k.status === "active"
        ),
      );
      const openapi = JSON.parse((await send(t, "GET", "/openapi.json")).text);
      assert.equal(openapi.openapi, "3.1.0");
    });

    it("refuses a compute without a token: 401 with the error envelope, nothing echoed", async () => {
      const reply = await send(t, "POST", `${svc.epochPath}/compute`, {
        headers: json,
        body: svc.body,
      });
      assert.equal(reply.status, 401);
      const body = JSON.parse(reply.text);
      assert.equal(body.error.code, "UNAUTHENTICATED");
      assert.equal(typeof body.error.corr_id, "string");
      assert.ok(!reply.text.includes("inputs_cid"));
    });

    it("refuses a non-JSON body: 415 media_type", async () => {
      const reply = await send(t, "POST", `${svc.epochPath}/compute`, {
        headers: { ...auth, "content-type": "text/plain" },
        body: svc.body,
      });
      assert.equal(reply.status, 415);
      assert.equal(JSON.parse(reply.text).error.reason, "media_type");
    });

    it("names the faulty field (§8), never its value; a non-I-JSON body is 400 json", async () => {
      const body = JSON.parse(svc.body) as Record<string, unknown>;
      const wrong = await send(t, "POST", `${svc.epochPath}/compute`, {
        headers: { ...auth, ...json },
        body: JSON.stringify({ ...body, dry_run: "conformance_marker" }),
      });
      assert.equal(wrong.status, 400, wrong.text);
      const err = JSON.parse(wrong.text).error;
      assert.deepEqual([err.reason, err.field], ["schema", "dry_run"]);
      assert.ok(!wrong.text.includes("conformance_marker"));
      const dup = await send(t, "POST", `${svc.epochPath}/compute`, {
        headers: { ...auth, ...json },
        body: `{"dry_run":true,${svc.body.slice(1)}`.replace(/}$/, ',"dry_run":true}'),
      });
      assert.equal(dup.status, 400, dup.text);
      assert.equal(JSON.parse(dup.text).error.reason, "json");
    });

    it("computes, replays with the same bytes, and serves the sealed envelope", async () => {
      const first = await send(t, "POST", `${svc.epochPath}/compute`, {
        headers: { ...auth, ...json },
        body: svc.body,
      });
      assert.equal(first.status, 200, first.text);
      const record = JSON.parse(first.text);
      assert.equal(record.status, "sealed");
      assert.match(record.intent_key, /^b3:[0-9a-f]{64}$/);
      const again = await send(t, "POST", `${svc.epochPath}/compute`, {
        headers: { ...auth, ...json },
        body: svc.body,
      });
      assert.equal(again.status, 200);
      const replay = JSON.parse(again.text);
      assert.equal(replay.replayed, true);
      assert.equal(replay.manifest_hash, record.manifest_hash);
      assert.equal(replay.run_key, record.run_key);
      const served = await send(t, "GET", svc.epochPath, {
        headers: { ...auth, "accept-encoding": "gzip" },
      });
      const envelope = JSON.parse(served.text);
      assert.equal(envelope.manifest_hash, record.manifest_hash);
      assert.equal(envelope.manifest.run_key, record.run_key);
      assert.equal(envelope.manifest.schema, "svc-rewarder.manifest.v2");
      // An immutable answer (§10): strong ETag, never content-coded, 304 on a match.
      assert.equal(served.headers.get("etag"), `"${record.manifest_hash}"`);
      assert.equal(served.headers.get("cache-control"), "private, max-age=31536000, immutable");
      assert.equal(served.headers.get("content-encoding"), null);
      const cached = await send(t, "GET", svc.epochPath, {
        headers: { ...auth, "if-none-match": `W/"${record.manifest_hash}"` },
      });
      assert.equal(cached.status, 304);
      assert.equal(cached.text, "");
      assert.equal(cached.headers.get("etag"), `"${record.manifest_hash}"`);
    });
  });
}

function describeGeneric(t: Target): void {
  describe(`generic HTTP over ${t.transport}`, () => {
    it("GET /healthz answers 200 JSON", async () => {
      const reply = await send(t, "GET", "/healthz");
      assert.equal(reply.status, 200);
      assert.match(reply.headers.get("content-type") ?? "", /^application\/json/);
      assert.equal(typeof JSON.parse(reply.text), "object");
    });

    it("an unknown path answers 404", async () => {
      const reply = await send(t, "GET", "/no-such-route-conformance");
      assert.equal(reply.status, 404);
    });

    it(`${PARALLEL_REQUESTS} parallel requests all succeed`, async () => {
      const replies = await Promise.all(
        Array.from({ length: PARALLEL_REQUESTS }, () => send(t, "GET", "/healthz")),
      );
      assert.deepEqual(replies.map((r) => r.status), replies.map(() => 200));
    });

    it("keeps an HTTP/1.1 connection alive for a second request", async () => {
      const one = `GET /healthz HTTP/1.1\r\nHost: ${hostHeader(t)}\r\n\r\n`;
      const raw = await rawExchange(t, one + one, (text) => statusLines(text).length >= 2);
      assert.deepEqual(statusLines(raw), [200, 200]);
    });

    it("answers a malformed request line with 400 (or closes), never 200", async () => {
      const raw = await rawExchange(t, "BROKEN\r\n\r\n", (text) => text.includes("\r\n\r\n"));
      const codes = statusLines(raw);
      assert.ok(codes.length === 0 || codes[0] === 400, `got ${codes.join(",")}`);
    });
  });
}

function describeFixture(t: Target): void {
  describe(`fixture routes over ${t.transport}`, () => {
    it("passes the peer to the app: loopback address over TCP, none over UDS", async () => {
      const reply = await send(t, "GET", "/echo-peer");
      assert.equal(reply.status, 200);
      const { peer } = JSON.parse(reply.text);
      if (t.transport === "unix") {
        assert.deepEqual(peer, { transport: "unix" });
      } else {
        assert.equal(peer.transport, "tcp");
        assert.ok(["127.0.0.1", "::1"].includes(peer.address), `peer address ${peer.address}`);
      }
    });

    it("reads a small JSON body", async () => {
      const body = JSON.stringify({ name: "alice" });
      const reply = await send(t, "POST", "/echo-json", {
        headers: { "content-type": "application/json" },
        body,
      });
      assert.equal(reply.status, 200);
      assert.deepEqual(JSON.parse(reply.text), { bytes: body.length, name: "alice" });
    });

    it(`reads a ${LARGE_BODY_BYTES / 1024} KiB JSON body`, async () => {
      const body = JSON.stringify({ name: "big", pad: "x".repeat(LARGE_BODY_BYTES) });
      const reply = await send(t, "POST", "/echo-json", {
        headers: { "content-type": "application/json" },
        body,
      });
      assert.equal(reply.status, 200);
      assert.deepEqual(JSON.parse(reply.text), { bytes: body.length, name: "big" });
    });

    it("reads a chunked request body", async () => {
      const part1 = '{"name":';
      const part2 = '"chunky"}';
      const hex = (s: string) => s.length.toString(16);
      const raw = await rawExchange(
        t,
        `POST /echo-json HTTP/1.1\r\nHost: ${hostHeader(t)}\r\nContent-Type: application/json\r\n` +
          `Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
          `${hex(part1)}\r\n${part1}\r\n${hex(part2)}\r\n${part2}\r\n0\r\n\r\n`,
        (text) => text.includes('"chunky"}'),
      );
      assert.deepEqual(statusLines(raw), [200]);
      assert.ok(raw.includes(`"bytes":${part1.length + part2.length}`), "body length echoed");
    });

    it("answers invalid JSON with 400", async () => {
      const reply = await send(t, "POST", "/echo-json", {
        headers: { "content-type": "application/json" },
        body: "{not json",
      });
      assert.equal(reply.status, 400);
    });

    it("serves /healthz while a slow request is in flight", async () => {
      const started = Date.now();
      const slow = send(t, "GET", "/slow?ms=800");
      const health = await send(t, "GET", "/healthz");
      const healthMs = Date.now() - started;
      assert.equal(health.status, 200);
      assert.ok(healthMs < 600, `healthz took ${healthMs} ms behind a slow request`);
      assert.equal((await slow).status, 200);
    });
  });
}
