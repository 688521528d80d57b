/**
 * A first-in first-out queue with O(1) `shift` (Array#shift is linear once a deep pipeline builds up): the
 * requests in flight on one connection, whose replies come back in the order they were sent. Offered to
 * modules through `smapd/module`.
 */
export class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The item `i` places after the head (0: the head), or undefined past the end. */
  at(i: number): T | undefined {
    const at = this.head + i;
    return at < this.items.length ? this.items[at] : undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      // Drop the taken half once it is large, so that a queue that never empties does not grow forever.
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Empty the queue, returning what it held, oldest first. */
  takeAll(): T[] {
    const all = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return all;
  }
}
