/**
 * The page's view model: what views/index.ejs needs to draw the three cards, with any result,
 * error and the user's own input. Page routes and the error handler both render through here, so
 * an error re-renders exactly the page a successful post would, with the message beside its form.
 * This module renders; what it draws comes from the request (./view-request.ts), the models
 * (./view-cards.ts) and a post of several images (./view-batch.ts).
 */
import ejs from 'ejs';
import type { Request, Response } from 'express';
import type { FormName } from '../errors';
import type { Registry } from '../predictors/registry';
import type { ModelCard, Prediction } from '../predictors/types';
import type { Config } from '../config';
import type { ChartTick, LineChart } from '../core/chart';
import { formatPercent, megabytes } from '../core/format';
import { scoreRows } from '../core/result';
import { REVIEW_BELOW } from '../batch/table';
import { escapeHtmlBytes, keptText } from './echo';
import { type PageRenderer, type Parts, joinParts } from './page';
import type { BatchTable } from './view-batch';
import { EXAMPLES, chartFor, metricText } from './view-cards';
import { type PageInputs, baseUrl } from './view-request';

export interface PageState {
  results?: Partial<Record<FormName, Prediction>>;
  errors?: Partial<Record<FormName, { code: string; message: string }>>;
  /** What the user typed, echoed back (escaped by EJS) so nothing is lost on an error. */
  inputs?: PageInputs;
  /** The form just submitted, so the page can scroll to it. */
  active?: FormName;
  /** An error that belongs to no form (404, models still loading), shown at the top. */
  pageError?: { code: string; message: string };
  /** The results table of a post with several images. */
  batch?: BatchTable;
}

export interface PageDeps {
  registry: Registry;
  config: Config;
  page: PageRenderer;
  /** URL of the browser engine's module (src/browser/engine.ts, built), or null when not built. */
  engineScript?: string | null;
  /** URL of the page script's module (src/browser/page.ts, built), or null when not built: plain forms then. */
  pageScript?: string | null;
}

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
      uploadMb: megabytes(config.maxUploadBytes),
      megapixels: Math.round(config.maxImagePixels / 1e6),
      reviewChars: config.maxReviewChars,
      batchFiles: config.maxBatchFiles,
      batchMb: megabytes(config.maxBatchBytes),
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
        // Bounded, and escaped to bytes: a hostile body's review is long and all "<" (./echo.ts).
        return escapeHtmlBytes(keptText(inputs.review ?? '', deps.config.maxReviewChars));
      case 'upload':
        return inputs.imageName === undefined ? '' : page.render('partials/last-upload', { name: inputs.imageName });
      case 'error': {
        const render = (): string => page.render('partials/error', { error, name: card });
        return error === undefined ? page.cached(`error ${card}`, render) : render();
      }
      case 'result': {
        const render = (): string => page.render('partials/result', { prediction, scores: prediction === undefined ? [] : scoreRows(prediction), name: card, focus });
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

function renderedAxes(page: PageRenderer, chart: LineChart): string {
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
  const pageScript = deps.pageScript ?? null;
  let html: Buffer;
  if (state.pageError === undefined && registry.ready) {
    html = joinParts(page.frame('index', (hole) => page.render('index', { pageError: null, ready: true, section: hole, engine, pageScript })).fill(section));
  } else {
    // An error page (404, models still loading): rare enough to render whole.
    const sectionText = (name: string): string => joinParts([section(name)].flat()).toString();
    html = Buffer.from(page.render('index', { pageError: state.pageError ?? null, ready: registry.ready, section: sectionText, engine, pageScript }));
  }
  // Bytes with the type already set: Express then neither re-encodes the page nor parses the type
  // to add a charset.
  res.status(status).set('Content-Type', 'text/html; charset=utf-8').send(html);
}
