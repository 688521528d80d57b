/**
 * The daemon's open connections, as a doubly linked list whose nodes the connections carry, rather than a
 * `Set` and a `Map` keyed by connection. Under connection churn those two tables made V8's young-generation
 * collections three times as long (`--trace-gc-nvp`, smapd under `sockbench --reconnect`: 4-6 MB promoted
 * and 9 ms per scavenge with either table, 1.1 MB and 3 ms without both; docs/performance.md): objects of
 * connections long closed were still reachable when a scavenge ran, so each one's socket, stream states and
 * buffers were copied and then promoted. Which V8 internal kept them (the long-lived tables' backing stores
 * are the likely holders) was not pinned down; a small script churning a `Set` alone does not show it. A
 * removed node here drops both its links, so a closed connection is reachable from nothing the daemon keeps.
 */

/** One open connection: where it is counted against the limits, and its place in the list. */
export interface OpenNode<T> {
  readonly item: T;
  /** The server and client address it counts under while `seated` (daemon.ts, limits.ts). */
  server: string;
  address: string;
  seated: boolean;
  prev: OpenNode<T> | null;
  next: OpenNode<T> | null;
  listed: boolean;
}

export class OpenList<T> {
  private head: OpenNode<T> | null = null;
  private tail: OpenNode<T> | null = null;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Add `item`, not yet counted against any limit. */
  add(item: T): OpenNode<T> {
    const node: OpenNode<T> = { item, server: '', address: '', seated: false, prev: this.tail, next: null, listed: true };
    if (this.tail !== null) this.tail.next = node;
    else this.head = node;
    this.tail = node;
    this.count++;
    return node;
  }

  /** Take `node` out; a node already out is left alone. */
  remove(node: OpenNode<T>): void {
    if (!node.listed) return;
    node.listed = false;
    if (node.prev !== null) node.prev.next = node.next;
    else this.head = node.next;
    if (node.next !== null) node.next.prev = node.prev;
    else this.tail = node.prev;
    node.prev = null;
    node.next = null;
    this.count--;
  }

  /** The nodes, oldest first, as an array: callers may close connections (and so remove nodes) as they go. */
  nodes(): Array<OpenNode<T>> {
    const out: Array<OpenNode<T>> = [];
    for (let n = this.head; n !== null; n = n.next) out.push(n);
    return out;
  }
}
