import assert from "node:assert/strict";
import fc from "fast-check";
import { FairQueue, type QueueTicket } from "./fair_queue.ts";

function drain<T>(q: FairQueue<T>): string[] {
  const out: string[] = [];
  for (let t = q.shift(); t !== undefined; t = q.shift()) out.push(`${t.tenant}:${t.item}`);
  return out;
}

Deno.test("fair queue: round-robin over tenants, FIFO within one", () => {
  const q = new FairQueue<number>({ itemsMax: 100, tenantItemsMax: 10 });
  for (let i = 1; i <= 6; i++) q.push("attacker", i);
  q.push("honest", 1);
  q.push("third", 1);
  q.push("honest", 2);
  assert.deepEqual(drain(q), [
    "attacker:1",
    "honest:1",
    "third:1",
    "attacker:2",
    "honest:2",
    "attacker:3",
    "attacker:4",
    "attacker:5",
    "attacker:6",
  ]);
  assert.equal(q.size, 0);
  assert.equal(q.tenants, 0);
});

Deno.test("fair queue: a tenant arriving behind a backlog waits for at most one of its items", () => {
  const q = new FairQueue<number>({ itemsMax: 100, tenantItemsMax: 50 });
  for (let i = 1; i <= 50; i++) q.push("attacker", i);
  assert.equal(q.shift()?.item, 1);
  q.push("honest", 1); // arrives while the backlog is being served
  assert.deepEqual(drain(q).slice(0, 3), ["attacker:2", "honest:1", "attacker:3"]);
});

Deno.test("fair queue: bounds on all items and on one tenant's items; nothing queued when refused", () => {
  const q = new FairQueue<number>({ itemsMax: 4, tenantItemsMax: 2 });
  assert.notEqual(typeof q.push("a", 1), "string");
  assert.notEqual(typeof q.push("a", 2), "string");
  assert.equal(q.push("a", 3), "tenant_queue_full");
  assert.equal(q.depthOf("a"), 2);
  assert.notEqual(typeof q.push("b", 1), "string");
  assert.notEqual(typeof q.push("c", 1), "string");
  assert.equal(q.push("d", 1), "queue_full");
  assert.equal(q.size, 4);
  assert.equal(q.tenants, 3);
  assert.equal(q.deepest(), 2);
  q.shift();
  assert.notEqual(typeof q.push("d", 1), "string", "room again after one left");
  assert.throws(() => new FairQueue({ itemsMax: 2, tenantItemsMax: 3 }), RangeError);
  assert.throws(() => new FairQueue({ itemsMax: 0, tenantItemsMax: 0 }), RangeError);
});

Deno.test("fair queue: cancel removes exactly that item, once; the tenant keeps its turn", () => {
  const q = new FairQueue<string>({ itemsMax: 10, tenantItemsMax: 10 });
  const a1 = q.push("a", "1") as QueueTicket<string>;
  const a2 = q.push("a", "2") as QueueTicket<string>;
  const b1 = q.push("b", "1") as QueueTicket<string>;
  q.push("a", "3");
  assert.equal(q.remove(a2), true);
  assert.equal(q.remove(a2), false, "a second cancel is a no-op");
  assert.equal(q.size, 3);
  assert.equal(q.remove(b1), true);
  assert.equal(q.tenants, 1, "b has nothing queued any more");
  assert.equal(q.shift(), a1);
  assert.equal(q.remove(a1), false, "a taken item is no longer queued");
  assert.deepEqual(drain(q), ["a:3"]);
});

Deno.test("fair queue (property): FIFO per tenant, bounds, and a tenant's head waits for at most one item of each other tenant", () => {
  const op = fc.oneof(
    fc.record({ push: fc.constantFrom("a", "b", "c", "d") }),
    fc.record({ shift: fc.constant(true) }),
    fc.record({ cancel: fc.nat(20) }),
  );
  fc.assert(fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
    const q = new FairQueue<number>({ itemsMax: 12, tenantItemsMax: 5 });
    const live: QueueTicket<number>[] = [];
    // Per tenant with items: items of each other tenant served since its head became head.
    const waited = new Map<string, Map<string, number>>();
    let n = 0;
    for (const o of ops) {
      if ("push" in o) {
        const t = q.push(o.push, n++);
        if (typeof t === "string") {
          assert.equal(
            t === "queue_full" ? live.length : q.depthOf(o.push),
            t === "queue_full" ? 12 : 5,
          );
          continue;
        }
        live.push(t);
        if (!waited.has(o.push)) waited.set(o.push, new Map());
      } else if ("shift" in o) {
        const t = q.shift();
        if (t === undefined) {
          assert.equal(live.length, 0);
          continue;
        }
        assert.equal(t, live.find((x) => x.tenant === t.tenant), "FIFO within a tenant");
        live.splice(live.indexOf(t), 1);
        waited.set(t.tenant, new Map());
        for (const [other, counts] of waited) {
          if (other === t.tenant) continue;
          const c = (counts.get(t.tenant) ?? 0) + 1;
          assert.ok(c <= 1, `${other} waited for ${c} items of ${t.tenant}`);
          counts.set(t.tenant, c);
        }
      } else if (live.length > 0) {
        const t = live[o.cancel % live.length]!;
        assert.equal(q.remove(t), true);
        live.splice(live.indexOf(t), 1);
      }
      for (const tenant of [...waited.keys()]) {
        if (!live.some((x) => x.tenant === tenant)) waited.delete(tenant);
      }
      assert.equal(q.size, live.length);
      assert.equal(q.tenants, waited.size);
    }
  }));
});

Deno.test("fair queue: shiftWhere takes the first accepted item in fair order; others keep their place", () => {
  const q = new FairQueue<string>({ itemsMax: 100, tenantItemsMax: 10 });
  q.push("attacker", "big1");
  q.push("attacker", "big2");
  q.push("honest", "small1");
  q.push("third", "big3");
  q.push("attacker", "small2");
  const small = (item: string) => item.startsWith("small");
  assert.equal(q.shiftWhere(small)?.item, "small2"); // attacker is first in the ring
  assert.equal(q.shiftWhere(small)?.item, "small1"); // attacker moved to the end: honest next
  assert.equal(q.shiftWhere(small), undefined);
  assert.equal(q.size, 3);
  // honest's lane emptied and left; third had its place kept; attacker is after it.
  assert.deepEqual(drain(q), ["third:big3", "attacker:big1", "attacker:big2"]);
});

Deno.test("fair queue (property): shiftWhere returns exactly the items shift would order first among the accepted", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom("a", "b", "c"), fc.boolean()), { maxLength: 30 }),
      (pushes) => {
        const q = new FairQueue<{ n: number; ok: boolean }>({ itemsMax: 100, tenantItemsMax: 100 });
        pushes.forEach(([tenant, ok], n) => q.push(tenant, { n, ok }));
        const taken: number[] = [];
        for (let t = q.shiftWhere((i) => i.ok); t !== undefined; t = q.shiftWhere((i) => i.ok)) {
          assert.ok(t.item.ok);
          taken.push(t.item.n);
        }
        // Every accepted item came out once; the rest are still queued, FIFO per tenant.
        const accepted = pushes.flatMap(([, ok], n) => (ok ? [n] : []));
        assert.deepEqual([...taken].sort((x, y) => x - y), accepted);
        const rest: number[] = [];
        for (let t = q.shift(); t !== undefined; t = q.shift()) rest.push(t.item.n);
        assert.deepEqual(
          rest.sort((x, y) => x - y),
          pushes.flatMap(([, ok], n) => (ok ? [] : [n])),
        );
        // Within one tenant, accepted items come out in push order.
        for (const tenant of ["a", "b", "c"]) {
          const mine = taken.filter((n) => pushes[n]![0] === tenant);
          assert.deepEqual(mine, [...mine].sort((x, y) => x - y));
        }
      },
    ),
  );
});
