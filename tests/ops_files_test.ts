/**
 * Static checks of the deployment files (docs/DEPLOY.md). No Docker engine runs on this machine,
 * so the container is never started here: these tests check that the files parse and say what
 * docs/DEPLOY.md claims (seccomp denies ptrace/execveat, compose hardening, Dockerfile shape).
 * compose.yaml is read with a tiny subset parser (tests/yaml_subset.ts); no YAML library.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseYamlSubset, type YamlValue } from "./yaml_subset.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const read = (p: string) => readFileSync(join(ROOT, p), "utf8");

interface SeccompRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: string }[];
}
interface SeccompProfile {
  defaultAction: string;
  syscalls: SeccompRule[];
}

const DENIED_MUST = [
  "ptrace",
  "execveat",
  "process_vm_readv",
  "process_vm_writev",
  "bpf",
  "unshare",
];
const CLONE_NAMESPACE_MASK = 0x7e020000; // CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET

function seccomp(): SeccompProfile {
  return JSON.parse(read("ops/seccomp.json")) as SeccompProfile;
}

Deno.test("seccomp.json parses and refuses by default", () => {
  const p = seccomp();
  assert.ok(["SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS"].includes(p.defaultAction));
  assert.ok(Array.isArray(p.syscalls) && p.syscalls.length > 0);
  for (const r of p.syscalls) {
    assert.ok(r.names.length > 0, "no empty rule");
    for (const n of r.names) assert.match(n, /^[a-z0-9_]+$/);
  }
});

Deno.test("seccomp.json denies ptrace, execveat and cross-process memory access", () => {
  const p = seccomp();
  const allowed = new Set(
    p.syscalls.filter((r) => r.action === "SCMP_ACT_ALLOW" && r.args === undefined).flatMap((r) =>
      r.names
    ),
  );
  const denied = new Set(
    p.syscalls.filter((r) =>
      r.action.startsWith("SCMP_ACT_ERRNO") || r.action.startsWith("SCMP_ACT_KILL")
    )
      .flatMap((r) => r.names),
  );
  for (const name of DENIED_MUST) {
    assert.ok(!allowed.has(name), `${name} must not be allowed`);
    assert.ok(denied.has(name), `${name} must be named in a deny rule`);
  }
  const both = [...allowed].filter((n) => denied.has(n));
  assert.deepEqual(both, [], "no syscall both allowed and denied");
  // execve stays allowed on purpose: the runtime execs the entrypoint under the filter.
  assert.ok(allowed.has("execve"), "docs/DEPLOY.md explains why execve is allowed");
});

Deno.test("seccomp.json allows clone only without namespace flags, clone3 gets ENOSYS", () => {
  const p = seccomp();
  const clone = p.syscalls.filter((r) => r.names.includes("clone"));
  assert.equal(clone.length, 1);
  const arg = clone[0]?.args?.[0];
  assert.equal(arg?.op, "SCMP_CMP_MASKED_EQ");
  assert.equal(arg?.value, CLONE_NAMESPACE_MASK);
  assert.equal(arg?.valueTwo, 0);
  const clone3 = p.syscalls.find((r) => r.names.includes("clone3"));
  assert.equal(clone3?.action, "SCMP_ACT_ERRNO");
  assert.equal(clone3?.errnoRet, 38);
});

function asMap(v: YamlValue | undefined, what: string): { [k: string]: YamlValue } {
  assert.ok(v !== undefined && typeof v === "object" && !Array.isArray(v), `${what} is a mapping`);
  return v as { [k: string]: YamlValue };
}
function asList(v: YamlValue | undefined, what: string): YamlValue[] {
  assert.ok(Array.isArray(v), `${what} is a list`);
  return v;
}

Deno.test("compose.yaml: read-only root, tmpfs /tmp, data volume, no privileges, caps dropped", () => {
  const doc = asMap(parseYamlSubset(read("ops/compose.yaml")), "document");
  const svc = asMap(asMap(doc.services, "services").rewarder, "services.rewarder");
  assert.equal(svc.read_only, "true");
  assert.ok(asList(svc.tmpfs, "tmpfs").some((t) => typeof t === "string" && t.startsWith("/tmp:")));
  assert.ok(asList(svc.volumes, "volumes").includes("rewarder-data:/data"));
  assert.ok(Object.hasOwn(asMap(doc.volumes, "volumes"), "rewarder-data"));
  assert.deepEqual(asList(svc.cap_drop, "cap_drop"), ["ALL"]);
  assert.equal(svc.cap_add, undefined);
  assert.equal(svc.privileged, undefined);
  const sec = asList(svc.security_opt, "security_opt");
  assert.ok(sec.includes("no-new-privileges:true"));
  const seccompOpt = sec.find((s) => typeof s === "string" && s.startsWith("seccomp="));
  assert.equal(typeof seccompOpt, "string");
  // Compose v2 resolves the profile path against the compose file's directory.
  const profile = join(ROOT, "ops", (seccompOpt as string).slice("seccomp=".length));
  assert.ok(existsSync(profile), "the seccomp profile named in compose.yaml exists");
});

Deno.test("compose.yaml: open files and pids bounded, healthcheck with deno", () => {
  const doc = asMap(parseYamlSubset(read("ops/compose.yaml")), "document");
  const svc = asMap(asMap(doc.services, "services").rewarder, "services.rewarder");
  const nofile = asMap(asMap(svc.ulimits, "ulimits").nofile, "nofile");
  assert.equal(nofile.soft, "4096");
  assert.equal(nofile.hard, "4096");
  const pids = Number(svc.pids_limit);
  assert.ok(Number.isInteger(pids) && pids > 0 && pids <= 1024);
  const hc = asMap(svc.healthcheck, "healthcheck");
  const test = asList(hc.test, "healthcheck.test");
  assert.equal(test[0], "CMD");
  assert.equal(test[1], "deno");
  assert.ok(!test.includes("curl"));
  assert.equal(svc.user, "1993:1993");
});

Deno.test("Dockerfile: pinned base, frozen install, non-root, deno healthcheck, start:prod", () => {
  const df = read("Dockerfile");
  const from = /^FROM\s+(\S+)/m.exec(df)?.[1] ?? "";
  assert.match(from, /^denoland\/deno:\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?$/, "pinned version");
  assert.match(df, /^RUN deno install --frozen$/m);
  const user = [...df.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]);
  assert.ok(user.length > 0 && user[user.length - 1] !== "root" && user[user.length - 1] !== "0");
  assert.match(df, /^HEALTHCHECK .*\n\s+CMD \["deno", "run",/m);
  assert.ok(!/curl|wget/.test(df.replace(/^#.*$/gm, "")), "no curl/wget outside comments");
  assert.match(df, /^ENTRYPOINT \[.*"deno", "task", "start:prod"\]$/m);
  const tasks = (JSON.parse(read("deno.json")) as { tasks: Record<string, string> }).tasks;
  assert.ok(tasks["start:prod"] !== undefined, "deno.json defines start:prod");
});

Deno.test("Dockerfile: every COPY source exists and passes .dockerignore", () => {
  const df = read("Dockerfile");
  const allow = read(".dockerignore").split("\n").filter((l) => l.startsWith("!")).map((l) =>
    l.slice(1)
  );
  const sources = [...df.matchAll(/^COPY\s+(.+)\s+\S+$/gm)].flatMap((m) =>
    (m[1] ?? "").split(/\s+/)
  );
  assert.ok(sources.length >= 5);
  for (const src of sources) {
    assert.ok(existsSync(join(ROOT, src)), `${src} exists`);
    assert.ok(allow.includes(src), `${src} is allowed by .dockerignore`);
  }
});

Deno.test("yaml subset parser rejects what it does not understand", () => {
  assert.throws(() => parseYamlSubset("a:\n\tb: 1\n"), /tab/);
  assert.throws(() => parseYamlSubset("a:\n   b: 1\n"), /odd indentation/);
  assert.throws(() => parseYamlSubset("a: &x 1\n"), /unsupported/);
  assert.throws(() => parseYamlSubset("a: 1\na: 2\n"), /duplicate/);
  assert.deepEqual(parseYamlSubset('a:\n  - x\n  - k: v\n    j: w\nb: [1, "2"] # c\n'), {
    a: ["x", { k: "v", j: "w" }],
    b: ["1", "2"],
  });
});

Deno.test("alerts: each alert names its RUNBOOK section, and that section exists", () => {
  const alerts = read("ops/alerts.yml");
  const headings = new Set(
    [...read("docs/RUNBOOK.md").matchAll(/^#{2,4} (.+)$/gm)].map((m) =>
      m[1]!.toLowerCase().replace(/[^a-z0-9 -]/g, "").replace(/ /g, "-")
    ),
  );
  const names = [...alerts.matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1]!);
  assert.ok(names.includes("AuditSinkFailing"), names.join(","));
  const runbooks = [...alerts.matchAll(/runbook: "docs\/RUNBOOK\.md#([a-z0-9-]+)"/g)].map((m) =>
    m[1]!
  );
  assert.deepEqual(runbooks, names.map((n) => n.toLowerCase()), "one runbook link per alert");
  assert.deepEqual(runbooks.filter((a) => !headings.has(a)), [], "sections missing in RUNBOOK");
});
