import assert from "node:assert/strict";
import { createRefusalHold, type SetTimer } from "./refusal_hold.ts";

/** A manual clock: timers fire when the test says. */
function manualTimers() {
  const pending = new Set<{ fn: () => void; ms: number }>();
  const setTimer: SetTimer = (fn, ms) => {
    const t = { fn, ms };
    pending.add(t);
    return () => pending.delete(t);
  };
  const fireAll = () => {
    for (const t of [...pending]) {
      pending.delete(t);
      t.fn();
    }
  };
  return { setTimer, fireAll, pending };
}

Deno.test("refusal hold: a refusal is held until its timer; at most heldMax at once, the rest at once", async () => {
  const timers = manualTimers();
  const outcomes: boolean[] = [];
  const hold = createRefusalHold({
    holdMs: 1_000,
    heldMax: 2,
    setTimer: timers.setTimer,
    onRefusal: (h) => outcomes.push(h),
  });
  const signal = new AbortController().signal;
  let resolved = 0;
  const a = hold.hold(signal).then(() => resolved++);
  const b = hold.hold(signal).then(() => resolved++);
  await hold.hold(signal); // the third is answered at once
  assert.deepEqual(outcomes, [true, true, false]);
  assert.equal(hold.held(), 2);
  await Promise.resolve();
  assert.equal(resolved, 0, "held until the timer fires");
  assert.deepEqual([...timers.pending].map((t) => t.ms), [1_000, 1_000]);
  timers.fireAll();
  await Promise.all([a, b]);
  assert.equal(resolved, 2);
  assert.equal(hold.held(), 0);
});

Deno.test("refusal hold: a client that hangs up ends its hold and frees its place; its timer is cleared", async () => {
  const timers = manualTimers();
  const hold = createRefusalHold({ heldMax: 1, setTimer: timers.setTimer });
  const ctrl = new AbortController();
  const a = hold.hold(ctrl.signal);
  assert.equal(hold.held(), 1);
  ctrl.abort();
  await a;
  assert.equal(hold.held(), 0);
  assert.equal(timers.pending.size, 0, "timer cleared");
  // An aborted signal is not held at all.
  await hold.hold(ctrl.signal);
  assert.equal(hold.held(), 0);
});

Deno.test("refusal hold: holdMs 0 never holds; bad bounds are refused", async () => {
  const hold = createRefusalHold({ holdMs: 0 });
  await hold.hold(new AbortController().signal);
  assert.equal(hold.held(), 0);
  assert.throws(() => createRefusalHold({ heldMax: -1 }), RangeError);
  assert.throws(() => createRefusalHold({ holdMs: 1.5 }), RangeError);
});
