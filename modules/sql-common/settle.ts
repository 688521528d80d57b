/**
 * Waiting for a backend client to finish something that may never finish (a pool's `end()` against a server
 * that does not answer the goodbye): the SQL modules give it a bound, then tear down what is left themselves.
 */

/** True when `p` settled (fulfilled or rejected) within `ms`, false when the time ran out first. Never rejects. */
export async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<false>((resolve) => {
    timer = setTimeout(resolve, ms, false);
  });
  const settled = p.then(
    () => true,
    () => true,
  );
  try {
    return await Promise.race([settled, gaveUp]);
  } finally {
    clearTimeout(timer);
  }
}
