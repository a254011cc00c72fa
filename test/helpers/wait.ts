/** Polls `condition` every 10 ms until it holds; rejects after `timeoutMs` (bounded by time and count). */
export async function waitFor(condition: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; !condition(); i++) {
    if (Date.now() > deadline || i > timeoutMs / 5) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
