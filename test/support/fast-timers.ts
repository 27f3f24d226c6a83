/**
 * Shrinks every setTimeout delay of at least `minMs` by `factor`, until the returned function is
 * called. The @actions libraries sleep fixed seconds between retries (the cache client: 3 s, then
 * ~4.5, ~6.8, ~10 s) and offer no setting for it; this keeps their real retry paths in tests that
 * take milliseconds. Shorter timers (ours in tests, socket work) are left alone.
 */
export function compressLongTimers(factor = 100, minMs = 1_000): () => void {
  const original = globalThis.setTimeout
  const compressed = ((handler: (...args: unknown[]) => void, delay?: number, ...args: unknown[]) =>
    original(handler, typeof delay === 'number' && delay >= minMs ? Math.ceil(delay / factor) : delay, ...args)) as typeof setTimeout
  globalThis.setTimeout = Object.assign(compressed, original)
  return () => {
    globalThis.setTimeout = original
  }
}
