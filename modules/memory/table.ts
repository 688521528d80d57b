/**
 * The bounded key → value table behind a `memory` database. The capacity is a hard limit: a runtime map that
 * an administrator (or a script gone wrong) fills without bound would take the whole daemon down with it.
 */

/** What `bind` did, so the administrator is told whether the table changed. */
export type BindOutcome =
  | { readonly kind: 'added' }
  | { readonly kind: 'replaced'; readonly previous: string }
  | { readonly kind: 'kept'; readonly existing: string }
  | { readonly kind: 'same' };

import { foldCase } from '../../src/modules/api.js';

/** Keys and values end up in one-line replies and in a line-based snapshot; a line break would corrupt both. */
const LINE_BREAK = /[\r\n]/;

export class BindingTable {
  private readonly map = new Map<string, string>();

  constructor(
    readonly capacity: number,
    readonly foldCase: boolean,
  ) {}

  /** The key as stored and looked up: case-folded with `fold-case` (`foldCase`, as Postfix folds keys). */
  normalize(key: string): string {
    return this.foldCase ? foldCase(key) : key;
  }

  get size(): number {
    return this.map.size;
  }

  /** The lookup of the query hot path; `key` must already be normalized. */
  getNormalized(key: string): string | undefined {
    return this.map.get(key);
  }

  get(key: string): string | undefined {
    return this.map.get(this.normalize(key));
  }

  /** Bind `key`; an existing binding changes only with `replace`. Throws when a new key does not fit. */
  bind(key: string, value: string, replace: boolean): BindOutcome {
    checkText('key', key);
    checkText('value', value);
    if (value === '') {
      // Postfix reads an empty `OK ` value as a configuration error, so an empty binding can only do harm.
      throw new Error('the value is empty');
    }
    const k = this.normalize(key);
    const existing = this.map.get(k);
    if (existing !== undefined) {
      if (existing === value) return { kind: 'same' };
      if (!replace) return { kind: 'kept', existing };
      this.map.set(k, value);
      return { kind: 'replaced', previous: existing };
    }
    if (this.map.size >= this.capacity) {
      throw new Error(
        `table full: ${this.map.size} of capacity=${this.capacity} bindings used; remove bindings or raise capacity`,
      );
    }
    this.map.set(k, value);
    return { kind: 'added' };
  }

  /** Remove `key`; returns the value it had, or undefined when it was not bound. */
  remove(key: string): string | undefined {
    const k = this.normalize(key);
    const v = this.map.get(k);
    if (v !== undefined) this.map.delete(k);
    return v;
  }

  /** Remove every binding; returns how many there were. */
  clear(): number {
    const n = this.map.size;
    this.map.clear();
    return n;
  }

  /** All bindings, sorted by key (code-unit order, so the listing is the same on every system). */
  sorted(): Array<[string, string]> {
    return [...this.map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  /** All bindings in insertion order (for the snapshot, where order does not matter). */
  entries(): IterableIterator<[string, string]> {
    return this.map.entries();
  }

  /**
   * Replace the contents with `bindings` (from a snapshot). Refuses, leaving the table empty, when they do not
   * fit or when two keys become one under fold-case: dropping either silently would lose data.
   * `where(i)` names the source of the i-th binding in messages, `where(-1)` the source as a whole.
   */
  load(bindings: ReadonlyArray<readonly [string, string]>, where: (i: number) => string): void {
    this.map.clear();
    if (bindings.length > this.capacity) {
      throw new Error(`${where(-1)} holds ${bindings.length} bindings, more than capacity=${this.capacity}; raise capacity`);
    }
    const firstSeen = new Map<string, number>();
    for (let i = 0; i < bindings.length; i++) {
      const [key, value] = bindings[i]!;
      try {
        checkText('key', key);
        checkText('value', value);
      } catch (err) {
        this.map.clear();
        throw new Error(`${where(i)}: ${(err as Error).message}`);
      }
      const k = this.normalize(key);
      const prev = firstSeen.get(k);
      if (prev !== undefined) {
        this.map.clear();
        const how = this.foldCase ? ' (with fold-case)' : '';
        throw new Error(`${where(i)}: key '${key}' is bound twice${how}, first at ${where(prev)}`);
      }
      firstSeen.set(k, i);
      this.map.set(k, value);
    }
  }
}

function checkText(what: string, text: string): void {
  if (LINE_BREAK.test(text)) throw new Error(`the ${what} must not contain a line break`);
}
