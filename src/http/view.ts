/**
 * The page's view model: what views/index.ejs needs to draw the three cards, with any result,
 * error and the user's own input. Page routes and the error handler both render through here, so
 * an error re-renders exactly the page a successful post would, with the message beside its form.
 */
import type { Request, Response } from 'express';
import type { FormName } from '../errors';
import type { Registry } from '../predictors/registry';
import type { ModelCard, Prediction } from '../predictors/types';
import type { Config } from '../config';

export interface PageState {
  results?: Partial<Record<FormName, Prediction>>;
  errors?: Partial<Record<FormName, { code: string; message: string }>>;
  /** What the user typed, echoed back (escaped by EJS) so nothing is lost on an error. */
  inputs?: { x?: string; review?: string; imageName?: string };
  /** The form just submitted, so the page can scroll to it. */
  active?: FormName;
  /** An error that belongs to no form (404, models still loading), shown at the top. */
  pageError?: { code: string; message: string };
}

export interface PageDeps {
  registry: Registry;
  config: Config;
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
  const imageName = req.file?.originalname;
  return {
    x: pick('x', 200),
    review: pick('review', 1_000_000),
    imageName: imageName === undefined ? undefined : imageName.slice(0, 200),
  };
}

/** The origin curl examples should use: the one the browser used. */
function baseUrl(req: Request): string {
  const host = req.get('host') ?? 'localhost:3000';
  const proto = req.protocol === 'https' ? 'https' : 'http';
  return `${proto}://${/^[\w.:[\]-]+$/.test(host) ? host : 'localhost:3000'}`;
}

/** The measured quality of a model, in words, from its card. */
export function metricText(card: ModelCard): string {
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

export function renderPage(req: Request, res: Response, deps: PageDeps, state: PageState, status = 200): void {
  const cards = Object.fromEntries(deps.registry.cards().map((c) => [c.name, c])) as Partial<Record<FormName, ModelCard>>;
  res.status(status).render('index', {
    cards,
    results: state.results ?? {},
    errors: state.errors ?? {},
    inputs: state.inputs ?? {},
    active: state.active ?? null,
    pageError: state.pageError ?? null,
    ready: deps.registry.ready,
    limits: {
      uploadMb: Math.round((deps.config.maxUploadBytes / (1024 * 1024)) * 10) / 10,
      megapixels: Math.round(deps.config.maxImagePixels / 1e6),
      reviewChars: deps.config.maxReviewChars,
    },
    baseUrl: baseUrl(req),
    metricText,
  });
}
