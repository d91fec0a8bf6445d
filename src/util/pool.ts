/**
 * Runs `work` over `items` with at most `concurrency` in flight, in order of
 * the items. `work` must not throw for one item to stop the others: it returns
 * the item's result (errors included) instead.
 */
export async function forEachConcurrent<T>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, () => worker()));
}
