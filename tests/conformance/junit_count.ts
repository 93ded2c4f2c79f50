/**
 * Count leaf test results in a JUnit XML report from `deno test`, `bun test` or
 * `node --test`, and print `<passed> <failed>`. A testcase whose name prefixes another's
 * (`"group"` vs `"group > case"`, Deno's describe blocks) is a group, not a test.
 *
 * Usage: deno run --allow-read tests/conformance/junit_count.ts report.xml
 *
 * @module
 */

/** Largest report we read: the suite has a dozen tests, so this is generous. */
const REPORT_BYTES_MAX = 4 * 1024 * 1024;

/** Pass/fail counts of the leaf testcases in `xml`. */
export function countJunit(xml: string): { passed: number; failed: number } {
  const cases: Array<{ name: string; failed: boolean; skipped: boolean }> = [];
  const pattern = /<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const match of xml.matchAll(pattern)) {
    const name = /\bname="([^"]*)"/.exec(match[1] ?? "")?.[1] ?? "";
    const body = match[3] ?? "";
    cases.push({ name, failed: /<(failure|error)\b/.test(body), skipped: /<skipped\b/.test(body) });
  }
  const isGroup = (name: string) => cases.some((c) => c.name.startsWith(`${name} &gt; `));
  let passed = 0;
  let failed = 0;
  for (const c of cases) {
    if (isGroup(c.name) || c.skipped) continue;
    if (c.failed) failed += 1;
    else passed += 1;
  }
  return { passed, failed };
}

if (import.meta.main) {
  const path = Deno.args[0];
  if (path === undefined) throw new Error("usage: junit_count.ts report.xml");
  const { size } = await Deno.stat(path);
  if (size > REPORT_BYTES_MAX) throw new Error(`report over ${REPORT_BYTES_MAX} bytes`);
  const { passed, failed } = countJunit(await Deno.readTextFile(path));
  console.log(`${passed} ${failed}`);
}
