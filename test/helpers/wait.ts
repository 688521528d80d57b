/** Wait for a condition that a server reaches on its own (a counter, a closed socket), checked every 10 ms. */
export async function waitFor(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
