/**
 * The page's view model: what views/index.ejs needs to draw a card per model of the table, with any result,
 * error and the user's own input. Page routes and the error handler both render through here, so
 * an error re-renders exactly the page a successful post would, with the message beside its form.
 * This module renders; what it draws comes from the request (./view-request.ts), the models
 * (./view-cards.ts) and a post of several images (./view-batch.ts).
 */
import type { Request, Response } from 'express';
import type { FormName } from '../errors';
import type { Registry } from '../predictors/registry';
import type { ModelCard, Prediction } from '../predictors/types';
import type { Config } from '../config';
import type { ChartTick, LineChart } from '../core/chart';
import { formatPercent, megabytes } from '../core/format';
import { explanationView } from '../core/explanation';
import { FEEDBACK_WORDS, NOTE_MAX_CHARS, feedbackForm } from '../core/feedback';
import { offeredExamples } from './examples';
import { scoreRows } from '../core/result';
import { REVIEW_BELOW } from '../batch/table';
import { type ModelDefinition, byName } from '../models/model';
import { escapeHtmlBytes, keptText } from './echo';
import { type PageRenderer, type Parts, joinParts } from './page';
import { type ApiSection, apiSection } from './view-api';
import type { BatchTable } from './view-batch';
import { chartFor, metricText } from './view-cards';
import { type PageInputs, baseUrl, echoChars } from './view-request';
import { type TableInWords, apiTemplate, cardTemplate, fieldsOf, tableInWords } from './table';

export interface PageState {
  results?: Partial<Record<FormName, Prediction>>;
  errors?: Partial<Record<FormName, { code: string; message: string }>>;
  /** What the user sent to the active form, echoed back (escaped) so nothing is lost on an error. */
  inputs?: PageInputs;
  /** The form just submitted, so the page can scroll to it. */
  active?: FormName;
  /** An error that belongs to no form (404, models still loading), shown at the top. */
  pageError?: { code: string; message: string };
  /** The results table of the active form's post of several images. */
  batch?: BatchTable;
  /** A single image result's picture (a JPEG data: URL), when its explanation's map is drawn over it. */
  pictures?: Partial<Record<FormName, string>>;
  /** Feedback just recorded from the form under a card's result (POST /feedback): what the card then says. */
  feedbackDone?: Partial<Record<FormName, string>>;
}

export interface PageDeps {
  registry: Registry;
  config: Config;
  page: PageRenderer;
  /** URL of the browser engine's module (src/browser/engine.ts, built), or null when not built. */
  engineScript?: string | null;
  /** URL of the page script's module (src/browser/page.ts, built), or null when not built: plain forms then. */
  pageScript?: string | null;
  /** With the prediction log on, what the feedback form says is kept (src/core/feedback.ts); absent: no form. */
  feedback?: { keepMinutes: number; retentionDays: number } | null;
}

/** What a card shows of the request's input: only the active card's (the form just submitted). */
const inputsOf = (card: FormName, state: PageState): PageInputs => (state.active === card ? (state.inputs ?? {}) : {});

/**
 * Whether a card shows anything from this request; if not, its HTML is the same for everyone. Its
 * input and a table of several images are only shown on the form just submitted (the active one).
 */
function idle(card: FormName, state: PageState): boolean {
  return state.results?.[card] === undefined && state.errors?.[card] === undefined && state.feedbackDone?.[card] === undefined && state.active !== card;
}

/** What every render of the page shares, worked out once per set of loaded cards. */
interface SharedLocals {
  cards: Partial<Record<FormName, ModelCard>>;
  limits: { uploadMb: number; megapixels: number; reviewChars: number; batchFiles: number; batchMb: number };
  percent: typeof formatPercent;
  reviewBelow: number;
  maxUploadBytes: number;
  maxBatchBytes: number;
  /** The measured quality of a model in words (views/partials/card-head.ejs), its held-out items named by its definition. */
  metricText: (card: ModelCard) => string;
  /** The table of models, in page order, and in words. */
  models: readonly ModelDefinition[];
  about: TableInWords;
  /** What "Use the API" shows besides each model's own part. */
  api: ApiSection;
}

const sharedLocals = new WeakMap<PageDeps, { cards: ModelCard[]; locals: SharedLocals }>();

/** Worked out again when the cards change: once loaded, and when a model tier starts serving another version. */
function shared(deps: PageDeps): SharedLocals {
  const { registry, config } = deps;
  const cards = registry.cards();
  const hit = sharedLocals.get(deps);
  if (hit !== undefined && hit.cards.length === cards.length && hit.cards.every((c, i) => c === cards[i])) return hit.locals;
  const models = registry.definitions;
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
    metricText: (card) => metricText(card, byName(models, card.name)?.about.items ?? 'items'),
    models,
    about: tableInWords(models),
    api: apiSection(models, config),
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
 * The contents of a card's slots for this request: `slot(name)` in the card's template. A slot
 * named after one of the model's fields is that field's input; 'upload' the image just sent;
 * 'error', 'result'; 'batch' the table of several images; 'chart' a value model's chart.
 * What does not depend on the request (an empty error box, an empty result) is kept as bytes.
 */
function slotFiller(deps: PageDeps, common: SharedLocals, model: ModelDefinition, state: PageState): (slot: string) => Buffer | string {
  const { page, config } = deps;
  const card = model.name;
  const inputs = inputsOf(card, state);
  const error = state.errors?.[card];
  const prediction = state.results?.[card];
  const focus = state.active === card && prediction !== undefined;
  const fields = fieldsOf(model, config) ?? {};
  return (slot) => {
    switch (slot) {
      case 'upload':
        return inputs.imageName === undefined ? '' : page.render('partials/last-upload', { name: inputs.imageName });
      case 'error': {
        const render = (): string => page.render('partials/error', { error, name: card });
        return error === undefined ? page.cached(`error ${card}`, render) : render();
      }
      case 'result': {
        const done = state.feedbackDone?.[card];
        if (done !== undefined) return page.render('partials/feedback-done', { name: card, message: done });
        // A review's explanation is drawn over the text the model read: the form's (only) text field, as sent.
        const [first] = Object.keys(fields);
        const why = prediction === undefined ? null : explanationView(prediction.explanation, first === undefined ? undefined : inputs.fields?.[first]);
        const picture = state.pictures?.[card] ?? null;
        const render = (): string =>
          page.render('partials/result', {
            prediction,
            scores: prediction === undefined ? [] : scoreRows(prediction),
            name: card,
            focus,
            why,
            picture,
            feedback: prediction?.id === undefined || deps.feedback == null ? null : feedbackHtml(page, deps.feedback, common.cards[card], card, prediction),
          });
        return prediction === undefined && !focus ? page.cached(`result ${card}`, render) : render();
      }
      case 'batch': {
        // The results table of a post with several images; hidden and empty otherwise.
        const labels = common.cards[card]?.labels ?? [];
        const batch = state.active === card ? (state.batch ?? null) : null;
        const render = (): string => page.render('partials/batch', { ...common, batch, labels, name: card });
        return batch === null ? page.cached(`batch ${card} ${labels.join(',')}`, render) : render();
      }
      case 'chart': {
        const [first] = Object.keys(fields);
        const chart = chartFor(common.cards[card], prediction, first === undefined ? undefined : inputs.fields?.[first]);
        if (chart === null) return '';
        return page.render('partials/chart', { chart, axes: renderedAxes(page, chart), name: card });
      }
      default: {
        const field = Object.hasOwn(fields, slot) ? fields[slot] : undefined;
        if (field === undefined) throw new Error(`${cardTemplate(model)}: unknown slot "${slot}"`);
        // Bounded, and escaped to bytes: a hostile body's text is long and all "<" (./echo.ts).
        return escapeHtmlBytes(keptText(inputs.fields?.[slot] ?? '', echoChars(field, config)));
      }
    }
  };
}

/** Stands for the prediction id while a feedback form is rendered once for a card, a version and an answer. */
const ID_SLOT = '\u0000prediction-id\u0000';
const drawnForms = new Map<string, string[]>();

/**
 * The "Wrong?" form under a result with an id (views/partials/feedback.ejs, from src/core/feedback.ts):
 * rendered once per card, version and answer with a slot for the id, then only the id changes.
 */
export function feedbackHtml(
  page: PageRenderer,
  settings: { keepMinutes: number; retentionDays: number },
  card: ModelCard | undefined,
  name: FormName,
  prediction: Pick<Prediction, 'id' | 'label'>,
): string {
  const render = (id: string): string => {
    const spec = { model: name, labels: card?.labels ?? [], ...settings };
    return page.render('partials/feedback', { form: feedbackForm(spec, id, prediction.label), words: FEEDBACK_WORDS, noteMax: NOTE_MAX_CHARS });
  };
  const id = escapeHtmlBytes(prediction.id ?? '').toString();
  if (!page.caching) return render(id);
  const key = `${name} ${card?.version ?? ''} ${prediction.label ?? ''} ${settings.keepMinutes} ${settings.retentionDays}`;
  let parts = drawnForms.get(key);
  if (parts === undefined) {
    parts = render(ID_SLOT).split(ID_SLOT);
    drawnForms.set(key, parts);
  }
  return parts.join(id);
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
 * The template gets the model's own sample inputs as `examples` (its "Try" buttons).
 */
function renderCard(deps: PageDeps, common: SharedLocals, model: ModelDefinition, state: PageState): Buffer | string | Parts {
  const { page } = deps;
  const card = model.name;
  const template = cardTemplate(model);
  const fill = slotFiller(deps, common, model, state);
  const active = state.active === card;
  const invalid = state.errors?.[card] !== undefined;
  const locals = (slot: (name: string) => string | Buffer, requestData: (what: string) => object): Record<string, unknown> => ({
    ...common,
    examples: offeredExamples(model),
    active: active ? card : null,
    errors: invalid ? { [card]: requestData('errors') } : {},
    inputs: requestData('inputs'),
    results: requestData('results'),
    slot,
  });
  // Until the models are loaded the cards have no model card to show: nothing is kept.
  if (!page.caching || !deps.registry.ready) return page.render(template, locals((s) => fill(s).toString(), () => ({})));
  // Keyed by version too: a model tier may start serving another version, with another card.
  const version = common.cards[card]?.version ?? '';
  const frame = page.frame(`card ${card} ${version} ${active} ${invalid}`, (hole) => page.render(template, locals(hole, requestOnly)));
  return idle(card, state) ? page.cached(`card ${card} ${version}`, () => joinParts(frame.fill(fill)).toString()) : frame.fill(fill);
}

/**
 * The page for `state`, sent with `status`: views/index.ejs's frame (rendered once) with a card
 * per model of the table, `section(name)`, each mostly bytes rendered once (renderCard), and the API section, whose
 * curl lines name the request's host, kept per host.
 */
export function renderPage(req: Request, res: Response, deps: PageDeps, state: PageState, status = 200): void {
  const { registry, page } = deps;
  const common = shared(deps);
  const host = baseUrl(req);
  const section = (name: string): Buffer | string | Parts => {
    if (name === 'api') {
      // The generic part (views/partials/api.ejs) around each model's own (views/partials/<name>-api.ejs).
      const render = (): string => {
        const locals = { ...common, baseUrl: host };
        return page.render('partials/api', { ...locals, parts: common.models.map((m) => page.render(apiTemplate(m), locals)) });
      };
      return registry.ready ? page.cached(`api ${host}`, render) : render();
    }
    const model = byName(common.models, name);
    if (model === undefined) throw new Error(`views/index.ejs: no model "${name}" in the table`);
    return renderCard(deps, common, model, state);
  };
  // The engine applies the server's limits in the browser; it reads them from its <script> element.
  const engine = deps.engineScript
    ? { script: deps.engineScript, maxUploadBytes: deps.config.maxUploadBytes, maxPixels: deps.config.maxImagePixels, maxReviewChars: deps.config.maxReviewChars }
    : null;
  const pageScript = deps.pageScript ?? null;
  // The page script draws the "Wrong?" form under the answers it fetches (src/core/feedback.ts) with these.
  const feedback = deps.feedback ?? null;
  let html: Buffer;
  if (state.pageError === undefined && registry.ready) {
    html = joinParts(page.frame('index', (hole) => page.render('index', { pageError: null, ready: true, section: hole, engine, pageScript, feedback, models: common.models, about: common.about })).fill(section));
  } else {
    // An error page (404, models still loading): rare enough to render whole.
    const sectionText = (name: string): string => joinParts([section(name)].flat()).toString();
    html = Buffer.from(page.render('index', { pageError: state.pageError ?? null, ready: registry.ready, section: sectionText, engine, pageScript, feedback, models: common.models, about: common.about }));
  }
  // Bytes with the type already set: Express then neither re-encodes the page nor parses the type
  // to add a charset.
  res.status(status).set('Content-Type', 'text/html; charset=utf-8').send(html);
}
