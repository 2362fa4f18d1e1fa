/**
 * Bounded concurrency for work over many items (a cache's files): a fixed number of calls in
 * flight instead of one await per item in sequence, so each file-system round trip overlaps
 * others (on a network file system each one is slow) while memory stays bounded by the limit.
 *
 * @module
 */

/**
 * `work` applied to every item with at most `limit` calls in flight; the results come back in
 * the items' order. After a failure no new call starts; the first failure is thrown once the
 * calls already in flight have settled, so nothing keeps running behind the caller's back.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await work(items[i], i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, Math.floor(limit)), items.length) }, lane));
  if (failure !== undefined) throw failure.error;
  return results;
}
