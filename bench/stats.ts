/** The q-quantile of `values` by rank (q 0.5: the median, the upper middle value for an even count). */
export function quantile(values: number[], q = 0.5): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}
