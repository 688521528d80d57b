/**
 * The partial keys the `file` module tries after the exact key misses. Postfix never sends partial keys
 * (`user@`, `@domain`, parent domains) to a socket map, so access(5)/virtual(5)-style tables need the
 * server to try them itself. Order, most specific first:
 *
 *   address `user@sub.example.com` (domain-fallback):   `user@`, `@sub.example.com`,
 *       then with parent-domains:                        `@.example.com`, `@.com`
 *   bare key `sub.example.com` (parent-domains):         `.example.com`, `.com`
 *
 * The address is split at its last `@`. A leading-dot entry matches subdomains only, as in Postfix.
 */

export interface SearchOptions {
  /** For keys with `@`: also try `user@` and `@domain`. */
  readonly domainFallback: boolean;
  /** Also try `.parent` domains: for bare keys, and (with domainFallback) for the domain of an address. */
  readonly parentDomains: boolean;
}

/** Append `prefix + .parent` for each proper parent of `domain` (never the bare `.`). */
function pushParents(out: string[], prefix: string, domain: string): void {
  let dot = domain.indexOf('.', 1);
  while (dot >= 0 && dot < domain.length - 1) {
    out.push(prefix + domain.slice(dot));
    dot = domain.indexOf('.', dot + 1);
  }
}

/** The keys to try after `key` itself, in order; empty when no fallback applies. */
export function fallbackKeys(key: string, opts: SearchOptions): string[] {
  const out: string[] = [];
  const at = key.lastIndexOf('@');
  if (at >= 0) {
    if (!opts.domainFallback) return out;
    const local = key.slice(0, at);
    const domain = key.slice(at + 1);
    // With an empty local part or domain the exact key already is `@domain` or `user@`.
    if (local !== '' && domain !== '') {
      out.push(local + '@');
      out.push('@' + domain);
    }
    if (opts.parentDomains && domain !== '') pushParents(out, '@', domain);
    return out;
  }
  if (opts.parentDomains) pushParents(out, '', key);
  return out;
}
