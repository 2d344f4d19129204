/**
 * The monitoring page's charts, drawn on the server as SVG (views/monitor.ejs): plain bar charts,
 * one or two series side by side (today's predictions beside the reference split's). This module
 * only computes rectangles; the template writes them, each with a <title> a screen reader and a
 * hover can read, and every chart has a table of the same numbers beside it.
 */

export interface Bar {
  x: number;
  y: number;
  width: number;
  height: number;
  /** Which series: its CSS class (recent, reference). */
  series: string;
  /** What the bar stands for, in words. */
  title: string;
}

export interface BarChart {
  width: number;
  height: number;
  bars: Bar[];
  /** Labels under the groups, a few of them (every `step`-th), with their x and how they hang from it (the ends stay inside). */
  ticks: { x: number; text: string; anchor: 'start' | 'middle' | 'end' }[];
  /** The largest value drawn, for the axis' words. */
  max: number;
}

export interface Series {
  name: string;
  values: readonly number[];
  /** How one value reads ("12 predictions", "31.0 %"). */
  format: (value: number) => string;
}

const WIDTH = 320;
const HEIGHT = 120;
const BOTTOM = 18;

/** Groups of bars, one per label, one bar per series in each group, scaled to the largest value. */
export function barChart(labels: readonly string[], series: readonly Series[], options: { maxTicks?: number; ticks?: readonly string[] } = {}): BarChart {
  const groups = Math.max(1, labels.length);
  const groupWidth = WIDTH / groups;
  const barWidth = Math.max(1, (groupWidth * 0.8) / Math.max(1, series.length));
  const max = Math.max(0, ...series.flatMap((s) => s.values));
  const plot = HEIGHT - BOTTOM;
  const bars: Bar[] = [];
  labels.forEach((label, g) => {
    series.forEach((s, k) => {
      const value = s.values[g] ?? 0;
      const height = max === 0 ? 0 : (value / max) * (plot - 4);
      bars.push({
        x: round(g * groupWidth + groupWidth * 0.1 + k * barWidth),
        y: round(plot - height),
        width: round(barWidth),
        height: round(height),
        series: s.name,
        title: `${label}: ${s.format(value)} (${s.name})`,
      });
    });
  });
  const maxTicks = options.maxTicks ?? 6;
  const step = Math.max(1, Math.ceil(labels.length / maxTicks));
  // Short tick words where given (a bin's lower edge), else the labels; the first starts at the
  // left edge of its group, the last ends at the right edge of its own, so none is cut off.
  const words = options.ticks ?? labels;
  const chosen = labels.flatMap((_, g) => (g % step === 0 ? [g] : []));
  const ticks = chosen.map((g, i) => {
    const anchor = i === 0 ? ('start' as const) : i === chosen.length - 1 && g === labels.length - 1 ? ('end' as const) : ('middle' as const);
    const x = anchor === 'start' ? g * groupWidth : anchor === 'end' ? (g + 1) * groupWidth : g * groupWidth + groupWidth / 2;
    return { x: round(x), text: words[g] ?? '', anchor };
  });
  return { width: WIDTH, height: HEIGHT, bars, ticks, max };
}

const round = (x: number): number => Math.round(x * 10) / 10;

/** Predictions per hour over the window: one group per hour, oldest first, hours without any at 0. */
export function hourly(perHour: readonly { hour: number; count: number }[], since: number, hours: number): { labels: string[]; counts: number[] } {
  const first = Math.floor(since / 3_600_000) * 3_600_000;
  const counts = new Array<number>(hours + 1).fill(0);
  for (const { hour, count } of perHour) {
    const i = Math.round((hour - first) / 3_600_000);
    if (i >= 0 && i < counts.length) counts[i] = (counts[i] as number) + count;
  }
  const labels = counts.map((_, i) => `${new Date(first + i * 3_600_000).toISOString().slice(11, 13)}:00`);
  return { labels, counts };
}

/** A bin's words: "0.50–0.55". */
export function binLabels(edges: readonly number[], digits = 2): string[] {
  return edges.slice(0, -1).map((lo, i) => `${lo.toFixed(digits)}–${(edges[i + 1] as number).toFixed(digits)}`);
}

/** A bin's tick under the chart: its lower edge, short ("0.50", "104"). */
export function binTicks(edges: readonly number[], digits = 2): string[] {
  const whole = edges.some((e) => Math.abs(e) >= 10);
  return edges.slice(0, -1).map((lo) => (whole ? String(Math.round(lo)) : lo.toFixed(digits)));
}
