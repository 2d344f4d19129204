/**
 * `task` over `items` with `concurrency` in flight (the parity check, the batch check and the
 * image preparation for training). With `progressEvery` > 0, writes `  done/total` to stderr each
 * time that many more have finished.
 */
export async function forEach<T>(
  items: T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<void>,
  progressEvery = 0,
): Promise<void> {
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < items.length; i = next++) {
        await task(items[i] as T, i);
        done++;
        if (progressEvery > 0 && done % progressEvery === 0) process.stderr.write(`  ${done}/${items.length}\n`);
      }
    }),
  );
}
