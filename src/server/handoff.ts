/**
 * Handing accepted sockets from the primary to workers without stranding any. Node passes sockets to another
 * process one at a time (each waits for the receiver's acknowledgement) and, by default, the sender lets go
 * of its copy. A socket queued for, or on its way to, a worker that dies is then neither delivered nor closed:
 * nobody serves it, the client waits for an answer or a close that never comes, and the socket sits in
 * CLOSE-WAIT for minutes (seen with `kill -9` of a worker: 2 of 40 new connections).
 *
 * So the primary keeps its own copy of each socket it hands out (`keepOpen`), paused and unread, until the
 * worker says it took it; only then does it close its copy (which ends nothing: the worker holds the
 * connection). When the worker goes away first, the primary closes every socket it had not taken, so those
 * clients see the connection close and retry, as Postfix and Sendmail do on a fresh connection.
 */
import type { Worker } from 'node:cluster';
import type net from 'node:net';
import type { Serializable } from 'node:child_process';

/** A socket on its way to a worker, and when it was handed (Date.now()). */
interface Untaken {
  readonly socket: net.Socket;
  readonly at: number;
}

export class Handoffs {
  private seq = 0;
  private readonly untaken = new Map<Worker, Map<number, Untaken>>();

  /**
   * Send `socket` to `w` with the message `message(id)`; the worker answers with the same id once it has the
   * socket (`taken`). `lost` runs when the message cannot be sent at all (the socket is closed then).
   */
  hand(w: Worker, socket: net.Socket, message: (id: number) => Serializable, lost: () => void): void {
    const id = ++this.seq;
    let mine = this.untaken.get(w);
    if (mine === undefined) this.untaken.set(w, (mine = new Map()));
    mine.set(id, { socket, at: Date.now() });
    // The copy is never read here; a reset by the client must not become an unhandled 'error' event.
    socket.on('error', () => undefined);
    const pending = mine;
    w.send(message(id), socket, { keepOpen: true }, (err) => {
      // Delivered: the socket stays until `taken`. Not delivered: close it now, unless `drop` did already.
      if (err && pending.delete(id)) {
        socket.destroy();
        lost();
      }
    });
  }

  /** The worker has the socket: close the primary's copy. */
  taken(w: Worker, id: number): void {
    const mine = this.untaken.get(w);
    const handed = mine?.get(id);
    if (handed === undefined) return;
    mine!.delete(id);
    handed.socket.destroy();
  }

  /**
   * How long the oldest socket `w` has not taken has been waiting, in ms; 0 when none waits. A healthy
   * worker takes each socket within a few milliseconds, even in a burst of hundreds.
   */
  oldestWait(w: Worker, now: number): number {
    const mine = this.untaken.get(w);
    if (mine === undefined) return 0;
    // Maps iterate in insertion order, and ids grow: the first entry is the oldest.
    for (const handed of mine.values()) return now - handed.at;
    return 0;
  }

  /** The worker is gone (or going): close every socket it had not taken. Returns how many there were. */
  drop(w: Worker): number {
    const mine = this.untaken.get(w);
    if (mine === undefined) return 0;
    this.untaken.delete(w);
    for (const handed of mine.values()) handed.socket.destroy();
    return mine.size;
  }
}
