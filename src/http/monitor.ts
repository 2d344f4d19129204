/**
 * The monitoring page and its JSON (issue 26): GET /monitor (HTML, server-drawn charts, works
 * without JavaScript) and GET /api/monitor, both behind ADMIN_TOKEN (src/http/admin.ts). The
 * figures are src/monitoring/summary.ts's; `?hours=` chooses the window (default 24).
 */
import { type Request, type RequestHandler, Router } from 'express';
import { z } from 'zod';
import { AppError } from '../errors';
import type { Store } from '../database/types';
import { formatPercent } from '../core/format';
import type { Registry } from '../predictors/registry';
import { type BarChart, barChart, binLabels, binTicks, hourly } from '../monitoring/charts';
import { DEFAULT_HOURS, type ModelSummary, type Summary, servedModels, summarize } from '../monitoring/summary';
import { withDatabase } from '../monitoring/feedback';
import { type Endpoint, jsonEndpoint } from './endpoint';
import type { PageRenderer } from './page';

/** The longest window, in hours (a year). */
const MAX_HOURS = 24 * 366;

export interface MonitorDeps {
  store: Store;
  registry: Registry;
  page: PageRenderer;
  /** The admin guard's handlers (src/http/admin.ts). */
  admin: RequestHandler[];
  /** What the page says is kept. */
  retentionDays: number;
  keepMinutes: number;
  /** Each summary's drift, for the /metrics gauges. */
  onSummary?: (summary: Summary) => void;
}

/** `?hours=`, a whole number from 1 to MAX_HOURS; absent: DEFAULT_HOURS. */
export function hoursOf(req: Request | undefined): number {
  const raw = req?.query.hours;
  if (raw === undefined) return DEFAULT_HOURS;
  const hours = typeof raw === 'string' && /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(hours >= 1 && hours <= MAX_HOURS)) throw new AppError('invalid_monitor_window', `"hours" must be a whole number from 1 to ${MAX_HOURS}.`);
  return hours;
}

async function summaryFor(deps: MonitorDeps, req: Request | undefined): Promise<Summary> {
  const hours = hoursOf(req);
  const summary = await withDatabase(() => summarize(deps.store, servedModels(deps.registry), hours));
  deps.onSummary?.(summary);
  return summary;
}

const ReferenceShape = z.object({ edges: z.array(z.number()), proportions: z.array(z.number()), n: z.number() }).loose();
const ModelSummarySchema = z
  .looseObject({
    version: z.string(),
    predictions: z.number().int().meta({ description: 'Predictions in the window.' }),
    feedback: z.number().int().meta({ description: 'Feedback items on them.' }),
    feedback_agreeing: z.number().int(),
    accuracy_on_feedback: z.number().nullable().meta({ description: 'Of the predictions people gave feedback on, the share the model had right.' }),
    per_hour: z.array(z.object({ hour: z.number(), count: z.number() })),
    labels: z.record(z.string(), z.number()),
    sources: z.record(z.string(), z.number()),
    recent: z.number().int().meta({ description: 'Predictions the histogram and drift were computed over (the latest of the window, at most 5,000).' }),
    confidence: z.object({ recent: ReferenceShape, reference: ReferenceShape.nullable() }).nullable(),
    drift: z.record(z.string(), z.number().nullable()).meta({ description: "Population stability index of each input number against the training split's distribution; null without predictions." }),
    features: z.array(z.looseObject({ name: z.string(), psi: z.number().nullable(), flagged: z.boolean() })),
  })
  .meta({ id: 'ModelMonitoring' });
const MonitorSchema = z
  .looseObject({
    hours: z.number(),
    since: z.number(),
    generated_at: z.number(),
    drift_threshold: z.number(),
    models: z.record(z.string(), ModelSummarySchema),
  })
  .meta({ id: 'Monitoring' });

/** GET /api/monitor. */
export function monitorEndpoint(deps: MonitorDeps): Endpoint {
  const endpoint = jsonEndpoint({
    method: 'get',
    path: '/api/monitor',
    operationId: 'monitor',
    tag: 'Monitoring',
    summary: 'How the models do: predictions, labels, confidence, input drift and feedback (admin)',
    description:
      'Needs ADMIN_TOKEN (`Authorization: Bearer …`); without one set, this path does not exist (404). `?hours=` sets the window (default 24). ' +
      "`drift` is each input number's population stability index against the training split (above 0.2: drifted).",
    security: ['adminToken'],
    query: { hours: { description: 'The window, in hours (1 to 8784; default 24).', schema: z.string() } },
    // The schema documents the answer (loose: more may come); the type is the summary's own.
    response: { description: "Each model's figures over the window.", schema: MonitorSchema as unknown as z.ZodType<Summary> },
    errors: ['admin', 'invalid_monitor_window', 'not_found'],
    answer: (_input: undefined, req?: Request) => summaryFor(deps, req),
  });
  return { ...endpoint, handlers: [...deps.admin, ...endpoint.handlers] };
}

/** What views/monitor.ejs draws of one model. */
interface ModelView {
  name: string;
  summary: ModelSummary;
  hourly: BarChart;
  hourlyRows: { label: string; count: number }[];
  labels: { label: string; count: number; share: string }[];
  confidence: { chart: BarChart; rows: { bin: string; recent: string; reference: string }[] } | null;
  features: { name: string; description: string; psi: string; flagged: boolean; chart: BarChart | null; rows: { bin: string; recent: string; reference: string }[] }[];
}

const pct = (x: number | undefined): string => (x === undefined ? '–' : formatPercent(x));
const count = (n: number): string => (n === 1 ? '1 prediction' : `${n} predictions`);

function modelView(name: string, s: ModelSummary, summary: Summary): ModelView {
  const hours = hourly(s.per_hour, summary.since, summary.hours);
  const total = Object.values(s.labels).reduce((a, b) => a + b, 0);
  const paired = (edges: number[], recent: number[], reference: number[] | undefined, digits: number) => {
    const bins = binLabels(edges, digits);
    return {
      chart: barChart(
        bins,
        [
          { name: 'recent', values: recent, format: pct },
          ...(reference === undefined ? [] : [{ name: 'reference', values: reference, format: pct }]),
        ],
        { ticks: binTicks(edges, digits) },
      ),
      rows: bins.map((bin, i) => ({ bin, recent: pct(recent[i]), reference: reference === undefined ? '–' : pct(reference[i]) })),
    };
  };
  return {
    name,
    summary: s,
    hourly: barChart(hours.labels, [{ name: 'recent', values: hours.counts, format: count }]),
    hourlyRows: hours.labels.flatMap((label, i) => ((hours.counts[i] ?? 0) > 0 ? [{ label, count: hours.counts[i] ?? 0 }] : [])),
    labels: Object.entries(s.labels).map(([label, n]) => ({ label, count: n, share: total === 0 ? '–' : formatPercent(n / total) })),
    confidence:
      s.confidence === null
        ? null
        : paired(s.confidence.recent.edges, s.confidence.recent.proportions, s.confidence.reference?.proportions, 2),
    features: s.features.map((f) => {
      const drawn = f.reference === null ? null : paired(f.reference.edges, f.recent?.proportions ?? f.reference.edges.slice(1).map(() => 0), f.reference.proportions, f.reference.edges.some((e) => !Number.isInteger(e)) ? 2 : 0);
      return {
        name: f.name,
        description: f.unit === undefined ? f.description : `${f.description} (${f.unit})`,
        psi: f.psi === null ? 'no predictions yet' : f.psi.toFixed(3),
        flagged: f.flagged,
        chart: drawn?.chart ?? null,
        rows: drawn?.rows ?? [],
      };
    }),
  };
}

/** GET /monitor: the page. */
export function monitorPageRoutes(deps: MonitorDeps): Router {
  const router = Router();
  router.get('/monitor', ...deps.admin, async (req, res) => {
    const summary = await summaryFor(deps, req);
    const models = Object.entries(summary.models).map(([name, s]) => modelView(name, s, summary));
    const html = deps.page.render('monitor', {
      summary,
      models,
      generated: new Date(summary.generated_at).toISOString().replace('T', ' ').slice(0, 16) + ' UTC',
      retentionDays: deps.retentionDays,
      keepMinutes: deps.keepMinutes,
      threshold: summary.drift_threshold,
    });
    res.status(200).set('Content-Type', 'text/html; charset=utf-8').send(html);
  });
  return router;
}
