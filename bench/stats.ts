import os from 'node:os';

/** The q-quantile of `values` by rank (q 0.5: the median, the upper middle value for an even count). */
export function quantile(values: number[], q = 0.5): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** "median (min–max)" of `values`, each with `digits` decimals: how the alternating-round parts report. */
export function medianRange(values: number[], digits = 2): string {
  return `${quantile(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`;
}

/** How many alternating rounds a part runs, and how long each side is loaded in one. */
export interface RoundOptions {
  rounds?: number;
  seconds?: number;
}

/** The parts' rounds: at least 5 of 5 s each unless told (issue 24's rule for a speed figure). */
export function roundSettings(options: RoundOptions): { rounds: number; seconds: number } {
  return { rounds: options.rounds ?? 5, seconds: options.seconds ?? 5 };
}

/** `npm run bench -- --quick`: 2 rounds of 2 s, a smoke run of each alternating part. */
export const QUICK_ROUNDS: RoundOptions = { rounds: 2, seconds: 2 };

/** A `--name N` (or `--name=N`) of this command line: a whole number of at least 1, or undefined when absent. */
export function wholeOption(name: string, argv = process.argv.slice(2).join(' ')): number | undefined {
  const v = new RegExp(`--${name}[= ](\\S+)`).exec(argv)?.[1];
  if (v === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(v)) throw new Error(`--${name} ${v}: a whole number of at least 1`);
  return Number(v);
}

/** The machine's load averages over 1, 5 and 15 minutes, "1.15, 2.54, 2.60": what each part reports before and after. */
export function loadAverage(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
}
