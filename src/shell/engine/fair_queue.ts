/**
 * A bounded queue that is fair across tenants: round-robin over the tenants that have queued
 * items, FIFO within one tenant. A tenant with a backlog of 8 gets one turn, then every other
 * waiting tenant gets one, so its backlog delays another tenant's job by at most one job per
 * tenant ahead in the ring, never by its whole length. Two bounds: all items
 * (`itemsMax`) and one tenant's items (`tenantItemsMax`), so one tenant cannot fill the queue
 * and lock the others out. Pure: no timers, no I/O; O(1) push, shift and remove.
 *
 * @module
 */

/** A queued item's handle, for {@link FairQueue.remove}. */
export interface QueueTicket<T> {
  readonly tenant: string;
  readonly item: T;
}

interface Node<T> extends QueueTicket<T> {
  prev: Node<T> | undefined;
  next: Node<T> | undefined;
  queued: boolean;
}

interface Lane<T> {
  head: Node<T> | undefined;
  tail: Node<T> | undefined;
  size: number;
}

/** Why {@link FairQueue.push} refused. */
export type QueueFull = "queue_full" | "tenant_queue_full";

/** The bounds of a {@link FairQueue}. */
export interface FairQueueLimits {
  /** Items queued across all tenants (jobs). */
  itemsMax: number;
  /** Items queued by one tenant (jobs), ≤ itemsMax. */
  tenantItemsMax: number;
}

/** The queue. */
export class FairQueue<T> {
  readonly #limits: FairQueueLimits;
  /** Lanes of tenants with queued items, in ring order (Map keeps insertion order). */
  readonly #lanes = new Map<string, Lane<T>>();
  #size = 0;

  constructor(limits: FairQueueLimits) {
    for (const [name, v] of Object.entries(limits)) {
      if (!Number.isInteger(v) || v < 1) {
        throw new RangeError(
          `Cannot create FairQueue as ${name} must be a positive integer: current value is ${v}`,
        );
      }
    }
    if (limits.tenantItemsMax > limits.itemsMax) {
      throw new RangeError(
        `Cannot create FairQueue as tenantItemsMax must be ≤ itemsMax: current value is ${limits.tenantItemsMax}`,
      );
    }
    this.#limits = { ...limits };
  }

  /** Items queued (all tenants). */
  get size(): number {
    return this.#size;
  }

  /** Tenants with at least one queued item. */
  get tenants(): number {
    return this.#lanes.size;
  }

  /** Items queued by `tenant`. */
  depthOf(tenant: string): number {
    return this.#lanes.get(tenant)?.size ?? 0;
  }

  /** The largest backlog of one tenant (0 when empty). */
  deepest(): number {
    let max = 0;
    for (const lane of this.#lanes.values()) max = Math.max(max, lane.size);
    return max;
  }

  /** Queues `item` at the end of `tenant`'s lane; a full bound refuses (nothing queued). */
  push(tenant: string, item: T): QueueTicket<T> | QueueFull {
    if (this.#size >= this.#limits.itemsMax) return "queue_full";
    let lane = this.#lanes.get(tenant);
    if (lane !== undefined && lane.size >= this.#limits.tenantItemsMax) return "tenant_queue_full";
    if (lane === undefined) {
      lane = { head: undefined, tail: undefined, size: 0 };
      this.#lanes.set(tenant, lane); // joins the ring at the end: its turn after the others
    }
    const node: Node<T> = { tenant, item, prev: lane.tail, next: undefined, queued: true };
    if (lane.tail === undefined) lane.head = node;
    else lane.tail.next = node;
    lane.tail = node;
    lane.size++;
    this.#size++;
    return node;
  }

  /**
   * Takes the next item: the head of the first tenant in the ring, which then moves to the
   * ring's end if it still has items (round-robin).
   */
  shift(): QueueTicket<T> | undefined {
    const first = this.#lanes.entries().next();
    if (first.done) return undefined;
    const [tenant, lane] = first.value;
    const node = lane.head!;
    this.#unlink(lane, node);
    this.#lanes.delete(tenant);
    if (lane.size > 0) this.#lanes.set(tenant, lane);
    return node;
  }

  /**
   * Takes the next item that `accepts`, in the same fair order as {@link shift}: the first
   * tenant in the ring with such an item gives its earliest one and moves to the ring's end
   * if it still has items. Tenants passed over keep their place. O(items queued).
   */
  shiftWhere(accepts: (item: T) => boolean): QueueTicket<T> | undefined {
    for (const [tenant, lane] of this.#lanes) {
      for (let node = lane.head; node !== undefined; node = node.next) {
        if (!accepts(node.item)) continue;
        this.#unlink(lane, node);
        this.#lanes.delete(tenant);
        if (lane.size > 0) this.#lanes.set(tenant, lane);
        return node;
      }
    }
    return undefined;
  }

  /** Removes a queued item (e.g. its request was cancelled); false if no longer queued. */
  remove(ticket: QueueTicket<T>): boolean {
    const node = ticket as Node<T>;
    if (!node.queued) return false;
    const lane = this.#lanes.get(node.tenant)!;
    this.#unlink(lane, node);
    // The tenant keeps its place in the ring while it has items.
    if (lane.size === 0) this.#lanes.delete(node.tenant);
    return true;
  }

  #unlink(lane: Lane<T>, node: Node<T>): void {
    if (node.prev === undefined) lane.head = node.next;
    else node.prev.next = node.next;
    if (node.next === undefined) lane.tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = node.next = undefined;
    node.queued = false;
    lane.size--;
    this.#size--;
  }
}
