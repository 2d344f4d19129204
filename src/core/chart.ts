/**
 * The geometry of the page's line chart (the number card's): the fitted line, the training
 * range shaded, tick marks and the user's point, in SVG coordinates. The server draws it into the
 * page (views/partials/chart.ejs) and the page script redraws it after a fetch
 * (src/browser/page/chart.ts) from this one function, so both draw the same SVG.
 * No Node, no DOM.
 */
import { formatNumber } from './format';

/** The SVG's viewBox and the margins left for the tick labels. */
export const CHART = { width: 320, height: 200, left: 52, right: 12, top: 12, bottom: 30 } as const;

export interface ChartTick {
  pos: number;
  label: string;
}

export interface LineChart {
  slope: number;
  intercept: number;
  range: [number, number];
  band: { x: number; y: number; width: number; height: number };
  xTicks: ChartTick[];
  yTicks: ChartTick[];
  line: { x1: number; y1: number; x2: number; y2: number };
  point: { cx: number; cy: number } | null;
  caption: string;
  /** Set when the point lies outside the training range: the line is being extrapolated. */
  note: string | null;
}

/** One decimal is plenty for SVG coordinates and keeps the markup short. */
const r1 = (v: number): number => Math.round(v * 10) / 10;

/** A step of 1, 2 or 5 × 10^k giving about `count` intervals over `span`. */
export function niceStep(span: number, count = 4): number {
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

export function tickLabel(v: number, step: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 1e5 || step < 1e-3) return v.toExponential(1).replace('e+', 'e');
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(decimals);
}

interface Domain {
  lo: number;
  hi: number;
  step: number;
}

function niceDomain(lo: number, hi: number): Domain {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const step = niceStep(hi - lo);
  return { lo: Math.floor(lo / step) * step, hi: Math.ceil(hi / step) * step, step };
}

function ticks(d: Domain, toPos: (v: number) => number): ChartTick[] {
  const out: ChartTick[] = [];
  const n = Math.round((d.hi - d.lo) / d.step);
  for (let i = 0; i <= n; i++) {
    const v = d.lo + i * d.step;
    out.push({ pos: r1(toPos(v)), label: tickLabel(Math.abs(v) < d.step * 1e-9 ? 0 : v, d.step) });
  }
  return out;
}

/**
 * Axes cover the training range; a point outside it widens the x axis to include it, so the
 * picture shows how far the line is being extrapolated.
 */
export function lineChart(
  fit: { slope: number; intercept: number },
  range: [number, number],
  point?: { x: number; y: number },
): LineChart {
  const { slope, intercept } = fit;
  const at = (x: number): number => slope * x + intercept;
  const has = point !== undefined && Number.isFinite(point.x) && Number.isFinite(point.y);
  const xlo = has ? Math.min(range[0], point.x) : range[0];
  const xhi = has ? Math.max(range[1], point.x) : range[1];
  const xd = niceDomain(xlo, xhi);
  const ys = [at(xd.lo), at(xd.hi)];
  if (has) ys.push(point.y);
  const yd = niceDomain(Math.min(...ys), Math.max(...ys));
  const { width, height, left, right, top, bottom } = CHART;
  const px = (x: number): number => left + ((x - xd.lo) / (xd.hi - xd.lo)) * (width - left - right);
  const py = (y: number): number => height - bottom - ((y - yd.lo) / (yd.hi - yd.lo)) * (height - top - bottom);
  const axes = chartAxes(fit, range, xd, yd, px, py);
  const equation = `y = ${slope.toFixed(3)}x ${intercept < 0 ? '−' : '+'} ${Math.abs(intercept).toFixed(3)}`;
  let caption = `Fitted line ${equation}. Shaded: the training range, x from ${range[0]} to ${range[1]}.`;
  let note: string | null = null;
  if (has) {
    caption += ` Your point: x = ${point.x}, predicted ${formatNumber(point.y)}.`;
    if (point.x < range[0] || point.x > range[1]) {
      note = `x = ${point.x} is outside the training range (${range[0]} to ${range[1]}): the line is extrapolated there, so treat the prediction with care.`;
    }
  }
  return {
    slope,
    intercept,
    range,
    ...axes,
    point: has ? { cx: r1(px(point.x)), cy: r1(py(point.y)) } : null,
    caption,
    note,
  };
}

type ChartAxes = Pick<LineChart, 'band' | 'xTicks' | 'yTicks' | 'line'>;

/** Axes already worked out, per line and range, by their domains: every point inside the training range shares one. */
const axesCache = new WeakMap<readonly number[], Map<string, ChartAxes>>();

/**
 * The band, ticks and fitted line for these domains. The same objects are returned for the same
 * domains (a few per card), so a renderer can keep what it drew from them (the server keeps the
 * axes' markup per xTicks array).
 */
function chartAxes(
  fit: { slope: number; intercept: number },
  range: [number, number],
  xd: Domain,
  yd: Domain,
  px: (x: number) => number,
  py: (y: number) => number,
): ChartAxes {
  const key = `${fit.slope} ${fit.intercept} ${xd.lo} ${xd.hi} ${xd.step} ${yd.lo} ${yd.hi} ${yd.step}`;
  let byDomain = axesCache.get(range);
  const hit = byDomain?.get(key);
  if (hit !== undefined) return hit;
  const at = (x: number): number => fit.slope * x + fit.intercept;
  const { height, top, bottom } = CHART;
  const bandX = px(range[0]);
  const axes: ChartAxes = {
    band: { x: r1(bandX), y: top, width: r1(Math.max(1, px(range[1]) - bandX)), height: height - top - bottom },
    xTicks: ticks(xd, px),
    yTicks: ticks(yd, py),
    line: { x1: r1(px(xd.lo)), y1: r1(py(at(xd.lo))), x2: r1(px(xd.hi)), y2: r1(py(at(xd.hi))) },
  };
  if (byDomain === undefined) axesCache.set(range, (byDomain = new Map()));
  // Bounded: points far outside the range each widen the axes their own way.
  if (byDomain.size < 32) byDomain.set(key, axes);
  return axes;
}
