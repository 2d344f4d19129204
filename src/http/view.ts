/**
 * The page's view model: what views/index.ejs needs to draw the three cards, with any result,
 * error and the user's own input. Page routes and the error handler both render through here, so
 * an error re-renders exactly the page a successful post would, with the message beside its form.
 */
import ejs from 'ejs';
import type { Request, Response } from 'express';
import type { FormName } from '../errors';
import type { Registry } from '../predictors/registry';
import type { ModelCard, Prediction } from '../predictors/types';
import type { Config } from '../config';
import { formatNumber } from '../predictors/regression';
import { formatPercent } from '../predictors/classification';
import { type BatchSummary, REVIEW_BELOW, leastSureFirst, needsReview, resultsCsv, reviewText, summarize, summaryText } from '../batch/table';
import type { ClassifiedImage } from './batch';
import { type PageRenderer, type Parts, joinParts } from './page';

export interface PageState {
  results?: Partial<Record<FormName, Prediction>>;
  errors?: Partial<Record<FormName, { code: string; message: string }>>;
  /** What the user typed, echoed back (escaped by EJS) so nothing is lost on an error. */
  inputs?: { x?: string; review?: string; imageName?: string };
  /** The form just submitted, so the page can scroll to it. */
  active?: FormName;
  /** An error that belongs to no form (404, models still loading), shown at the top. */
  pageError?: { code: string; message: string };
  /** The results table of a post with several images. */
  batch?: BatchTable;
}

/** What views/partials/batch.ejs draws: the rows least sure first, and the summary. */
export interface BatchTable {
  rows: Array<ClassifiedImage & { review: boolean }>;
  summary: BatchSummary;
  summaryText: string;
  reviewText: string;
  /** The "Download CSV" link: the rows as the batch command line writes them, as a data: URL. */
  csvHref: string;
}

export function batchTable(images: readonly ClassifiedImage[], labels: readonly string[]): BatchTable {
  const rows = images.map((image) => image.row);
  const summary = summarize(rows, labels);
  return {
    rows: leastSureFirst(rows).map((i) => {
      const image = images[i] as ClassifiedImage;
      return { ...image, review: needsReview(image.row) };
    }),
    summary,
    summaryText: summaryText(summary),
    reviewText: reviewText(summary),
    // A data: URL, so the download works without JavaScript and without keeping anything on the server.
    csvHref: `data:text/csv;charset=utf-8,${encodeURIComponent(resultsCsv(rows, labels))}`,
  };
}

export interface PageDeps {
  registry: Registry;
  config: Config;
  page: PageRenderer;
  /** URL of the browser engine's module (src/browser/engine.ts, built), or null when not built. */
  engineScript?: string | null;
}

/** Keeps only string inputs, bounded, so a hostile body can't blow up the page. */
export function keptInputs(req: Request): NonNullable<PageState['inputs']> {
  const body: unknown = req.body;
  const pick = (key: string, max: number): string | undefined => {
    if (body === null || typeof body !== 'object' || Buffer.isBuffer(body)) return undefined;
    const v = (body as Record<string, unknown>)[key];
    if (typeof v === 'number') return String(v);
    return typeof v === 'string' ? v.slice(0, max) : undefined;
  };
  // multer's req.file on the API; the image form's own upload names its file in res.locals.
  const imageName = req.file?.originalname ?? (req.res?.locals.imageName as string | undefined);
  return {
    x: pick('x', 200),
    review: pick('review', 1_000_000),
    imageName: imageName === undefined ? undefined : imageName.slice(0, 200),
  };
}

/** The origin curl examples should use: the one the browser used. */
export function baseUrl(req: Request): string {
  const host = req.get('host') ?? 'localhost:3000';
  const proto = req.protocol === 'https' ? 'https' : 'http';
  return `${proto}://${/^[\w.:[\]-]+$/.test(host) ? host : 'localhost:3000'}`;
}

const metricTexts = new WeakMap<ModelCard, string>();

/** The measured quality of a model, in words, from its card (worked out once per card). */
export function metricText(card: ModelCard): string {
  let text = metricTexts.get(card);
  if (text === undefined) {
    text = describeMetric(card);
    metricTexts.set(card, text);
  }
  return text;
}

function describeMetric(card: ModelCard): string {
  const v = card.metrics.validation;
  const n = typeof v.n === 'number' ? v.n.toLocaleString('en-US') : String(card.data.n_validation);
  if (typeof v.accuracy === 'number') {
    const what = card.name === 'malaria' ? 'cell images' : 'reviews';
    return `${(v.accuracy * 100).toFixed(1)} % accuracy on ${n} held-out ${what}`;
  }
  if (typeof v.r2 === 'number') {
    const rmse = typeof v.rmse === 'number' ? `, RMSE ${v.rmse.toFixed(2)}` : '';
    return `R² ${v.r2.toFixed(3)}${rmse} on ${n} held-out points`;
  }
  return 'not measured';
}

/**
 * The regression chart, drawn server-side as inline SVG: the fitted line, the training range
 * shaded, and the user's point. public/app.js redraws it after a fetch with the same geometry
 * (a mirror of this function); tests/e2e/page.test.ts checks both draw identical SVG.
 */
export const CHART = { width: 320, height: 200, left: 52, right: 12, top: 12, bottom: 30 } as const;

export interface ChartTick {
  pos: number;
  label: string;
}

export interface RegressionChart {
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

function niceDomain(lo: number, hi: number): { lo: number; hi: number; step: number } {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const step = niceStep(hi - lo);
  return { lo: Math.floor(lo / step) * step, hi: Math.ceil(hi / step) * step, step };
}

function ticks(d: { lo: number; hi: number; step: number }, toPos: (v: number) => number): ChartTick[] {
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
export function regressionChart(
  fit: { slope: number; intercept: number },
  range: [number, number],
  point?: { x: number; y: number },
): RegressionChart {
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

type Domain = ReturnType<typeof niceDomain>;
type ChartAxes = Pick<RegressionChart, 'band' | 'xTicks' | 'yTicks' | 'line'>;

/** Axes already worked out, per line and range, by their domains: every point inside the training range shares one. */
const axesCache = new WeakMap<readonly number[], Map<string, ChartAxes>>();

/**
 * The band, ticks and fitted line for these domains. The same objects are returned for the same
 * domains (a few per card), so a renderer can keep what it drew from them (see slotFiller).
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

/** The chart for the regression card, with the user's point when there is a result. */
export function chartFor(
  card: ModelCard | undefined,
  prediction: Prediction | undefined,
  x: string | undefined,
): RegressionChart | null {
  if (card?.fitted === undefined || card.data.x_range === undefined) return null;
  const px = x === undefined ? NaN : Number(x.trim());
  const point = prediction?.value !== undefined && Number.isFinite(px) ? { x: px, y: prediction.value } : undefined;
  return regressionChart(card.fitted, card.data.x_range, point);
}

/** Sample inputs behind the "Try" buttons; written for this page, not taken from any dataset. */
export const EXAMPLES = {
  x: ['5', '12.5', '-3'],
  reviews: [
    {
      name: 'Positive',
      text: 'A warm, funny and beautifully acted film. The story kept me hooked from start to finish, and I loved every minute of it.',
    },
    {
      name: 'Negative',
      text: 'A dull, badly written mess. The plot makes no sense, the acting is wooden, and I was bored within ten minutes. Avoid it.',
    },
    {
      name: 'Mixed',
      text: 'The photography is gorgeous and the lead gives a fine performance, but the script drags and the ending falls completely flat.',
    },
  ],
} as const;

/** Whether a card shows anything from this request; if not, its HTML is the same for everyone. */
function idle(name: FormName, state: PageState): boolean {
  const input = { regression: state.inputs?.x, malaria: state.inputs?.imageName, sentiment: state.inputs?.review }[name];
  return (
    state.results?.[name] === undefined &&
    state.errors?.[name] === undefined &&
    state.active !== name &&
    input === undefined &&
    (name !== 'malaria' || state.batch === undefined)
  );
}

/** What every render of the page shares, worked out once per set of loaded cards. */
interface SharedLocals {
  cards: Partial<Record<FormName, ModelCard>>;
  limits: { uploadMb: number; megapixels: number; reviewChars: number; batchFiles: number; batchMb: number };
  percent: typeof formatPercent;
  reviewBelow: number;
  maxUploadBytes: number;
  maxBatchBytes: number;
  examples: typeof EXAMPLES;
  metricText: typeof metricText;
}

const sharedLocals = new WeakMap<PageDeps, { cards: ModelCard[]; locals: SharedLocals }>();

/** Worked out again when the cards change: once loaded, and when a model tier starts serving another version. */
function shared(deps: PageDeps): SharedLocals {
  const { registry, config } = deps;
  const cards = registry.cards();
  const hit = sharedLocals.get(deps);
  if (hit !== undefined && hit.cards.length === cards.length && hit.cards.every((c, i) => c === cards[i])) return hit.locals;
  const locals: SharedLocals = {
    cards: Object.fromEntries(cards.map((c) => [c.name, c])) as Partial<Record<FormName, ModelCard>>,
    limits: {
      uploadMb: Math.round((config.maxUploadBytes / (1024 * 1024)) * 10) / 10,
      megapixels: Math.round(config.maxImagePixels / 1e6),
      reviewChars: config.maxReviewChars,
      batchFiles: config.maxBatchFiles,
      batchMb: Math.round((config.maxBatchBytes / (1024 * 1024)) * 10) / 10,
    },
    percent: formatPercent,
    reviewBelow: REVIEW_BELOW,
    maxUploadBytes: config.maxUploadBytes,
    maxBatchBytes: config.maxBatchBytes,
    examples: EXAMPLES,
    metricText,
  };
  sharedLocals.set(deps, { cards, locals });
  return locals;
}

/**
 * Stands for request data while a card's frame is rendered once: a template that reads it there
 * (instead of through a slot) would freeze one request's data into every later page, so reading
 * it fails loudly instead.
 */
function requestOnly(what: string): object {
  return new Proxy(
    {},
    {
      get(_target, key) {
        if (typeof key === 'symbol') return undefined;
        throw new Error(`views: ${what}.${key} is per-request data; draw it in a card with slot() (src/http/view.ts)`);
      },
    },
  );
}

/**
 * The contents of a card's slots for this request: `slot(name)` in views/partials/<card>.ejs.
 * What does not depend on the request (an empty error box, an empty result) is kept as bytes.
 */
function slotFiller(deps: PageDeps, common: SharedLocals, card: FormName, state: PageState): (slot: string) => Buffer | string {
  const { page } = deps;
  const inputs = state.inputs ?? {};
  const error = state.errors?.[card];
  const prediction = state.results?.[card];
  const focus = state.active === card && prediction !== undefined;
  return (slot) => {
    switch (slot) {
      case 'x':
        return ejs.escapeXML(inputs.x ?? '');
      case 'review':
        return ejs.escapeXML(inputs.review ?? '');
      case 'upload':
        return inputs.imageName === undefined ? '' : page.render('partials/last-upload', { name: inputs.imageName });
      case 'error': {
        const render = (): string => page.render('partials/error', { error, name: card });
        return error === undefined ? page.cached(`error ${card}`, render) : render();
      }
      case 'result': {
        const render = (): string => page.render('partials/result', { prediction, name: card, focus });
        return prediction === undefined && !focus ? page.cached(`result ${card}`, render) : render();
      }
      case 'batch': {
        // The results table of a post with several images; hidden and empty otherwise.
        const labels = common.cards.malaria?.labels ?? [];
        const render = (): string => page.render('partials/batch', { ...common, batch: state.batch ?? null, labels });
        return state.batch === undefined ? page.cached(`batch ${labels.join(',')}`, render) : render();
      }
      case 'chart': {
        const chart = chartFor(common.cards.regression, prediction, inputs.x);
        if (chart === null) return '';
        return page.render('partials/chart', { chart, axes: renderedAxes(page, chart) });
      }
      default:
        throw new Error(`views/partials/${card}.ejs: unknown slot "${slot}"`);
    }
  };
}

/** The chart's axes as drawn by views/partials/chart-axes.ejs: kept per axes object (chartAxes gives the same one for the same domains). */
const drawnAxes = new WeakMap<ChartTick[], string>();

function renderedAxes(page: PageRenderer, chart: RegressionChart): string {
  let html = page.caching ? drawnAxes.get(chart.xTicks) : undefined;
  if (html === undefined) {
    html = page.render('partials/chart-axes', { chart });
    if (page.caching) drawnAxes.set(chart.xTicks, html);
  }
  return html;
}

/**
 * One card: its frame (rendered once for each combination of "is the active form" and "has an
 * error", the two things the template itself decides on) with its slots filled for this request.
 */
function renderCard(deps: PageDeps, common: SharedLocals, card: FormName, state: PageState): Buffer | string | Parts {
  const { page } = deps;
  const fill = slotFiller(deps, common, card, state);
  const active = state.active === card;
  const invalid = state.errors?.[card] !== undefined;
  const locals = (slot: (name: string) => string | Buffer, requestData: (what: string) => object): Record<string, unknown> => ({
    ...common,
    active: active ? card : null,
    errors: invalid ? { [card]: requestData('errors') } : {},
    inputs: requestData('inputs'),
    results: requestData('results'),
    slot,
  });
  // Until the models are loaded the cards have no model card to show: nothing is kept.
  if (!page.caching || !deps.registry.ready) return page.render(`partials/${card}`, locals((s) => fill(s).toString(), () => ({})));
  // Keyed by version too: a model tier may start serving another version, with another card.
  const version = common.cards[card]?.version ?? '';
  const frame = page.frame(`card ${card} ${version} ${active} ${invalid}`, (hole) => page.render(`partials/${card}`, locals(hole, requestOnly)));
  return idle(card, state) ? page.cached(`card ${card} ${version}`, () => joinParts(frame.fill(fill)).toString()) : frame.fill(fill);
}

/**
 * The page for `state`, sent with `status`: views/index.ejs's frame (rendered once) with a card
 * per `section(name)`, each mostly bytes rendered once (renderCard), and the API section, whose
 * curl lines name the request's host, kept per host.
 */
export function renderPage(req: Request, res: Response, deps: PageDeps, state: PageState, status = 200): void {
  const { registry, page } = deps;
  const common = shared(deps);
  const host = baseUrl(req);
  const section = (name: string): Buffer | string | Parts => {
    if (name === 'api') {
      const render = (): string => page.render('partials/api', { ...common, baseUrl: host });
      return registry.ready ? page.cached(`api ${host}`, render) : render();
    }
    return renderCard(deps, common, name as FormName, state);
  };
  // The engine applies the server's limits in the browser; it reads them from its <script> element.
  const engine = deps.engineScript
    ? { script: deps.engineScript, maxUploadBytes: deps.config.maxUploadBytes, maxPixels: deps.config.maxImagePixels, maxReviewChars: deps.config.maxReviewChars }
    : null;
  let html: Buffer;
  if (state.pageError === undefined && registry.ready) {
    html = joinParts(page.frame('index', (hole) => page.render('index', { pageError: null, ready: true, section: hole, engine })).fill(section));
  } else {
    // An error page (404, models still loading): rare enough to render whole.
    const sectionText = (name: string): string => joinParts([section(name)].flat()).toString();
    html = Buffer.from(page.render('index', { pageError: state.pageError ?? null, ready: registry.ready, section: sectionText, engine }));
  }
  // Bytes with the type already set: Express then neither re-encodes the page nor parses the type
  // to add a charset.
  res.status(status).set('Content-Type', 'text/html; charset=utf-8').send(html);
}
