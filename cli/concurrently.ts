/**
 * How many app-envs a command reads or probes at once (their secrets, their Redis). Each may wait
 * connectTimeoutMs (10 s) for a Redis or an AWS endpoint that does not answer, and one after the
 * other a source of N app-envs took N times that; bounded, so that a file of many stacks does not
 * open as many connections and AWS calls at once.
 */
export const CONCURRENT_TARGETS = 8;

/**
 * `work` on every item, at most `limit` at a time, the results in the items' order (not the order
 * they finish in). For reads that each may wait out a timeout (an app-env whose Redis does not
 * answer waits connectTimeoutMs): one after the other, N of them took N times that.
 * `work` must not throw (a rejection rejects the whole, and the other items' work goes on unawaited).
 */
export async function mapConcurrently<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}
