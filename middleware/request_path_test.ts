/**
 * The request path (contract §9): the normalisation table, and a Hono app wired as
 * src/app.ts wires it, over `app.request` and over a real Deno socket (where the raw
 * request-target reaches us unresolved). tests/service_auth_test.ts repeats the rows
 * against the real service.
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import type { AppEnv } from "./context.ts";
import { errorHandler, notFoundHandler } from "./error_mapper.ts";
import {
  INVALID_REQUEST_PATH,
  normaliseRequestPath,
  rawPathOf,
  REQUEST_PATHS_REMEMBERED_MAX,
  requestPath,
} from "./request_path.ts";
import { rawRequest } from "./_test_app.ts";

Deno.test("normaliseRequestPath: decodes unreserved and %3A, keeps %2F, refuses the rest", () => {
  const ok: [string, string][] = [
    ["/", "/"],
    ["/rewarder/epochs/e1", "/rewarder/epochs/e1"],
    ["/rewarder/epochs/%65%31", "/rewarder/epochs/e1"],
    ["/a/%7E%2d%2E%5F", "/a/~-._"],
    ["/a/node%3Aa", "/a/node:a"],
    ["/a/node%3aa", "/a/node:a"],
    ["/a/x%2Fy", "/a/x%2F" + "y"],
    ["/a/x%2fy", "/a/x%2F" + "y"],
    ["/a/%2F", "/a/%2F"],
    ["/a/b:c@d!$&'()*+,;=", "/a/b:c@d!$&'()*+,;="],
    ["/a/...", "/a/..."],
  ];
  for (const [raw, want] of ok) assert.equal(normaliseRequestPath(raw), want, raw);
  const refused = [
    "",
    "rewarder",
    "//",
    "/a//b",
    "/a/",
    "/a/b/",
    "/a/.",
    "/a/./b",
    "/a/../b",
    "/a/%2e",
    "/a/%2E%2e/b",
    "/a/.%2E",
    "/a/%25",
    "/a/%zz",
    "/a/%4",
    "/a/%",
    "/a/%20",
    "/a/%2B", // a sub-delim escaped: not unreserved, not `:`, not `/`
    "/a/%C3%A9",
    "/a b",
    "/a\\b",
    "/a/é",
    "/a/<x>",
    "/" + "a".repeat(2048),
  ];
  for (const raw of refused) assert.equal(normaliseRequestPath(raw), undefined, raw);
});

Deno.test("rawPathOf: origin-form and absolute URLs, without query and fragment", () => {
  assert.equal(rawPathOf("http://x:8/a/b?c=/d#e"), "/a/b");
  assert.equal(rawPathOf("http://x"), "/");
  assert.equal(rawPathOf("/a/../b?x"), "/a/../b");
  assert.equal(rawPathOf("*"), "");
  assert.equal(rawPathOf("x:80"), "");
});

function app(): Hono<AppEnv> {
  const rp = requestPath();
  const a = new Hono<AppEnv>({ getPath: rp.getPath });
  a.onError(errorHandler({ jitterMsMax: 0 }));
  a.notFound(notFoundHandler({ jitterMsMax: 0 }));
  a.use(rp.middleware);
  a.get("/", (c) => c.json({ root: true }));
  a.get("/healthz", (c) => c.json({ ok: true }));
  a.get("/rewarder/epochs/:epoch_id", (c) => c.json({ path: c.req.path, ...c.req.param() }));
  a.get(
    "/rewarder/epochs/:epoch_id/proofs/:account",
    (c) => c.json({ path: c.req.path, ...c.req.param() }),
  );
  return a;
}

async function reason(res: Response): Promise<string | undefined> {
  return ((await res.json()) as { error?: { reason?: string } }).error?.reason;
}

Deno.test("the router routes on the normalised path; refused paths are 400 path, not 404/500", async () => {
  const a = app();
  const proof = await a.request("/rewarder/epochs/e%31/proofs/a%2Fb%3Ac");
  assert.deepEqual(await proof.json(), {
    path: "/rewarder/epochs/e1/proofs/a%2Fb:c",
    epoch_id: "e1",
    account: "a/b:c", // %2F decoded exactly once, by the param read
  });
  const epoch = await a.request("/rewarder/epochs/e1%2Fx");
  assert.deepEqual(await epoch.json(), {
    path: "/rewarder/epochs/e1%2Fx",
    epoch_id: "e1/x", // one segment: never routed as /rewarder/epochs/e1/x
  });
  for (
    const p of [
      "/rewarder/epochs/e1/proofs/%25",
      "/rewarder/epochs/e1/",
      "/healthz/",
      "/rewarder//epochs/e1",
      "/rewarder/epochs/%C3%A9",
    ]
  ) {
    const res = await a.request(p);
    assert.equal(res.status, 400, p);
    assert.equal(await reason(res), "path", p);
  }
  assert.equal((await a.request("/")).status, 200);
  assert.equal((await a.request("/nowhere")).status, 404);
});

Deno.test("dot segments over a real socket (the URL parser never sees them) are 400 path", async () => {
  const a = app();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => a.fetch(req, { peer: { transport: "tcp", address: "127.0.0.1" } }),
  );
  try {
    const port = server.addr.port;
    for (
      const target of [
        "/rewarder/epochs/e1/../e2",
        "/rewarder/epochs/./e2",
        "/rewarder/epochs/e1/%2e%2e/e2",
        "/rewarder/epochs/e2/.",
      ]
    ) {
      const head = `GET ${target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`;
      assert.equal(await rawRequest(port, head), 400, target);
    }
    const ok = `GET /rewarder/epochs/e2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`;
    assert.equal(await rawRequest(port, ok), 200);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a listener's raw request-target (Node adapter) wins over the resolved URL", async () => {
  const a = app();
  const res = await a.fetch(new Request("http://t/rewarder/epochs/e2"), {
    peer: { transport: "tcp", address: "127.0.0.1" },
    requestTarget: "/rewarder/epochs/e1/../e2",
  });
  assert.equal(res.status, 400);
  assert.equal(await reason(res), "path");
});

Deno.test("the auditor's page directory /audit/ is the one trailing-slash path (CONTRACT-NOTES 25)", () => {
  assert.equal(normaliseRequestPath("/audit/"), "/audit/");
  for (const raw of ["/audit//", "/audit/x/", "/rewarder/epochs/e1/", "/rewarder/", "/%61udit/"]) {
    assert.equal(normaliseRequestPath(raw), undefined, raw);
  }
});

Deno.test("getPath remembers targets: the same answers as normalising each time, past its bound and for long targets", () => {
  const rp = requestPath();
  const targets: string[] = [];
  for (let i = 0; i < REQUEST_PATHS_REMEMBERED_MAX + 200; i++) {
    targets.push(`http://h:1/rewarder/epochs/e-${i}%2Dx`, `/rewarder/runs/${i}/../x?q=${i}`);
  }
  targets.push(`http://h:1/rewarder/epochs/${"a".repeat(600)}`, "http://h:1/a/%2f/b", "*", "");
  for (let round = 0; round < 2; round++) {
    for (const t of targets) {
      const expected = normaliseRequestPath(rawPathOf(t)) ?? INVALID_REQUEST_PATH;
      assert.equal(
        rp.getPath(new Request("http://h:1/other"), { env: { requestTarget: t } }),
        expected,
        t,
      );
    }
  }
  const url = "http://h:1/rewarder/epochs/e%3A1";
  assert.equal(rp.getPath(new Request(url)), "/rewarder/epochs/e:1");
  assert.equal(rp.getPath(new Request(url)), "/rewarder/epochs/e:1");
});
