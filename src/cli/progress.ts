/**
 * Progress on standard error: a bar redrawn in place when it is a terminal (done/total, rate, ETA,
 * errors so far), a plain line every few seconds when it is not (a log file, CI), nothing when quiet.
 * The total is a count of rows when it is known up front (images), else the share of the input's
 * bytes read (text files; unknown for standard input). A sharded run's lines name the shard
 * ("progress, shard 1/4: …"), so the logs of many pods can be told apart.
 */
import { count } from '../units';

export interface ProgressSource {
  /** Rows written, those skipped by --resume included. */
  done: number;
  errors: number;
  /** Rows in all, when known. */
  total?: number;
  /** Share of the input read, 0..1, when the row total is unknown. */
  fraction?: () => number | undefined;
}

export type ProgressMode = 'bar' | 'lines' | 'none';

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

export class Progress {
  private timer: NodeJS.Timeout | undefined;
  private readonly started = performance.now();
  /** Rows already in the output when the run started (--resume): not part of this run's rate. */
  private skipped = 0;

  constructor(
    private readonly source: ProgressSource,
    private readonly mode: ProgressMode,
    private readonly stream: NodeJS.WriteStream,
    private readonly intervalMs: number,
    /** What the run is, when there are several ("shard 1/4"). */
    private readonly label?: string,
  ) {}

  start(skipped: number): void {
    this.skipped = skipped;
    if (this.mode === 'none') return;
    this.timer = setInterval(() => this.draw(), this.mode === 'bar' ? 200 : this.intervalMs);
    this.timer.unref();
  }

  /** Stops redrawing; a bar is left complete on its own line. */
  stop(): void {
    clearInterval(this.timer);
    if (this.mode === 'bar') this.stream.write(`\r${this.line()}\x1b[K\n`);
  }

  /** Rows per second written by this run so far. */
  rate(): number {
    return (this.source.done - this.skipped) / ((performance.now() - this.started) / 1000);
  }

  private draw(): void {
    if (this.mode === 'bar') this.stream.write(`\r${this.line()}\x1b[K`);
    else this.stream.write(`progress${this.label === undefined ? '' : `, ${this.label}`}: ${this.line()}\n`);
  }

  private line(): string {
    const { done, errors, total } = this.source;
    const rate = this.rate();
    const share = total !== undefined ? (total === 0 ? 1 : done / total) : this.source.fraction?.();
    const eta =
      total !== undefined
        ? (total - done) / rate
        : share !== undefined && share > 0
          ? ((1 - share) / share) * ((done - this.skipped) / rate)
          : NaN;
    const parts = [
      total !== undefined ? `${count(done)}/${count(total)}` : `${count(done)} rows`,
      share === undefined ? '' : `${(100 * share).toFixed(0)} %${total === undefined ? ' of the input' : ''}`,
      `${Number.isFinite(rate) ? count(Math.round(rate)) : '–'}/s`,
      `ETA ${duration(eta)}`,
      `${count(errors)} error${errors === 1 ? '' : 's'}`,
    ].filter((p) => p !== '');
    if (this.label !== undefined && this.mode === 'bar') parts.unshift(this.label);
    if (this.mode !== 'bar' || share === undefined) return parts.join(', ');
    const width = 24;
    const filled = Math.min(width, Math.round(share * width));
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${parts.join('  ')}`;
  }
}
