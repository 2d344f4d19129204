/**
 * Prometheus metrics (prom-client), served at GET /metrics: HTTP requests per route, model and
 * status with a latency histogram; inference time per model; queue depth and busy workers of a
 * pooled backend; and prom-client's process metrics (resident memory, heap, event-loop lag).
 * Each Metrics owns its own registry, so tests can build many apps without name clashes.
 */
import type { Request, RequestHandler, Response } from 'express';
import client from 'prom-client';
import { AppError } from './errors';
import { bearerCheck } from './http/auth';
import { fullPath, predictRoute } from './http/request-path';
import type { InferOptions, InferenceBackend, ModelSpec, NamedTensors } from './inference/backend';

/** What a pooled backend can say about its queue. */
export interface QueueStats {
  queueDepth(): Record<string, number>;
  busyWorkers(): number;
}

/** A scrape's body and its Content-Type. */
export interface MetricsText {
  text: string;
  contentType: string;
}

export interface MetricsOptions {
  /** prom-client's default process metrics (memory, CPU, event-loop lag, GC). Default true. */
  processMetrics?: boolean;
  prefix?: string;
}

const LATENCY_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25];
const INFERENCE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

/**
 * A bounded route label: never the raw URL, so a scan of random paths cannot create unbounded
 * time series. Model routes keep their model name in the `model` label.
 */
export interface RouteLabel {
  route: string;
  model: string;
}

export function routeLabel(req: Request): RouteLabel {
  const p = fullPath(req);
  const predict = predictRoute(req);
  if (predict !== null) {
    return { route: `${predict.api ? '/api' : ''}/predict/:model${predict.batch ? '/batch' : ''}`, model: predict.model };
  }
  if (p === '/' || p === '/healthz' || p === '/readyz' || p === '/metrics' || p === '/api/models') return { route: p, model: '' };
  if (/^\/[\w.-]+\.(css|js|svg|png|ico|woff2?)$/.test(p)) return { route: 'static', model: '' };
  return { route: 'other', model: '' };
}

export class Metrics {
  readonly registry = new client.Registry();
  private readonly requests: client.Counter<'method' | 'route' | 'model' | 'status'>;
  private readonly latency: client.Histogram<'method' | 'route' | 'model' | 'status'>;
  private readonly inference: client.Histogram<'model' | 'outcome'>;
  private readonly queueGauge: client.Gauge<'model'>;
  private readonly busyGauge: client.Gauge;
  private queueStats: QueueStats | null = null;
  private readonly logged: client.Counter<'model' | 'source' | 'label'>;
  private readonly confidence: client.Histogram<'model'>;
  private readonly feedback: client.Counter<'model'>;
  private readonly logDropped: client.Counter;
  private readonly drift: client.Gauge<'model' | 'feature'>;
  /** Predictions logged since the start, by model, source and label: predictions_logged_total at each scrape. */
  private readonly loggedTally = new Map<string, { labels: { model: string; source: string; label: string }; count: number }>();
  private readonly confidenceChildren = new Map<string, client.Histogram.Internal<'model'>>();

  constructor(options: MetricsOptions = {}) {
    const prefix = options.prefix ?? '';
    const registers = [this.registry];
    if (options.processMetrics ?? true) {
      // process_resident_memory_bytes, nodejs_heap_*, nodejs_eventloop_lag_{seconds,p50,p99,...}
      client.collectDefaultMetrics({ register: this.registry, prefix, eventLoopMonitoringPrecision: 10 });
    }
    this.requests = new client.Counter({
      name: `${prefix}http_requests_total`,
      help: 'HTTP requests answered, by route, model and status',
      labelNames: ['method', 'route', 'model', 'status'],
      registers,
    });
    this.latency = new client.Histogram({
      name: `${prefix}http_request_duration_seconds`,
      help: 'Time from request arrival to the last byte of the answer',
      labelNames: ['method', 'route', 'model', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.inference = new client.Histogram({
      name: `${prefix}inference_duration_seconds`,
      help: 'Time in backend.infer per model, queue wait included for pooled backends',
      labelNames: ['model', 'outcome'],
      buckets: INFERENCE_BUCKETS,
      registers,
    });
    // The prediction log's figures (issue 26), as /monitor shows them: predictions by model, source
    // and label (per hour: their rate), the confidence histogram, feedback, and each input number's drift.
    const tally = this.loggedTally;
    this.logged = new client.Counter({
      name: `${prefix}predictions_logged_total`,
      help: 'Predictions answered with an id and queued for the prediction log (counted within 100 ms, as the writer prepares them; prediction_log_dropped_total counts those never written), by model, source and label ("" for a value)',
      labelNames: ['model', 'source', 'label'],
      registers,
      collect() {
        this.reset();
        for (const { labels, count } of tally.values()) this.inc(labels, count);
      },
    });
    this.confidence = new client.Histogram({
      name: `${prefix}prediction_confidence`,
      help: "A classifier's confidence in its answers, per model",
      labelNames: ['model'],
      buckets: [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1],
      registers,
    });
    this.feedback = new client.Counter({ name: `${prefix}feedback_total`, help: 'Feedback items stored, per model', labelNames: ['model'], registers });
    this.logDropped = new client.Counter({
      name: `${prefix}prediction_log_dropped_total`,
      help: 'Prediction log entries dropped while the database could not take them (bounded queue)',
      registers,
    });
    this.drift = new client.Gauge({
      name: `${prefix}input_drift_psi`,
      help: "Population stability index of each input number's recent values against the training split (above 0.2: drifted)",
      labelNames: ['model', 'feature'],
      // Every HTTP process computes the same figure from the one database: merged, one is kept.
      aggregator: 'max',
      registers,
    });
    const stats = (): QueueStats | null => this.queueStats;
    this.queueGauge = new client.Gauge({
      name: `${prefix}inference_queue_depth`,
      help: 'Inference jobs waiting for a worker, per model',
      labelNames: ['model'],
      registers,
      collect() {
        const q = stats();
        if (q === null) return;
        for (const [model, depth] of Object.entries(q.queueDepth())) this.set({ model }, depth);
      },
    });
    this.busyGauge = new client.Gauge({
      name: `${prefix}inference_workers_busy`,
      help: 'Inference worker threads running a job',
      registers,
      collect() {
        const q = stats();
        if (q !== null) this.set(q.busyWorkers());
      },
    });
  }

  /** A prediction written to the log. */
  predictionLogged(model: string, source: string, label: string | null, confidence: number | null): void {
    // Counted in a plain map and handed to prom-client at each scrape (its counters hash their
    // labels on every increment, a measurable part of what the log cost a request).
    const key = `${model}\u0000${source}\u0000${label ?? ''}`;
    const tally = this.loggedTally.get(key);
    if (tally === undefined) this.loggedTally.set(key, { labels: { model, source, label: label ?? '' }, count: 1 });
    else tally.count++;
    if (confidence !== null) {
      let child = this.confidenceChildren.get(model);
      if (child === undefined) {
        child = this.confidence.labels(model);
        this.confidenceChildren.set(model, child);
      }
      child.observe(confidence);
    }
  }


  feedbackStored(model: string): void {
    this.feedback.inc({ model });
  }

  logEntriesDropped(n: number): void {
    this.logDropped.inc(n);
  }

  /** The drift of each model's input numbers, as last computed (src/monitoring/summary.ts). */
  driftComputed(models: Record<string, { drift: Record<string, number | null> }>): void {
    for (const [model, { drift }] of Object.entries(models)) {
      for (const [feature, psi] of Object.entries(drift)) if (psi !== null) this.drift.set({ model, feature }, psi);
    }
  }

  /** Report queue depth and busy workers of this backend at each scrape. */
  watchQueue(stats: QueueStats): void {
    this.queueStats = stats;
  }

  /**
   * Counts and times an answered request (`seconds` from arrival to close); an aborted one counts
   * with status 499. `label` names its route and model (bounded: never the raw URL).
   */
  observeRequest(req: Request, res: Response, seconds: number, label: (req: Request) => RouteLabel = routeLabel): void {
    const { route, model } = label(req);
    const labels = { method: req.method, route, model, status: res.writableFinished ? String(res.statusCode) : '499' };
    this.requests.inc(labels);
    this.latency.observe(labels, seconds);
  }

  /** The request metrics as a middleware of their own (the web app records them from src/http/context.ts). */
  middleware(label: (req: Request) => RouteLabel = routeLabel): RequestHandler {
    return (req, res, next) => {
      const started = performance.now();
      res.once('close', () => this.observeRequest(req, res, (performance.now() - started) / 1000, label));
      next();
    };
  }

  /**
   * GET /metrics in the Prometheus text format. With a token, only a scraper sending
   * `Authorization: Bearer <token>` gets them (others get 404: the app is public on Heroku).
   * `source` gives the text: this process's metrics, or (in a cluster) every process's, merged.
   */
  handler(token?: string, source: () => Promise<MetricsText> = () => this.text()): RequestHandler {
    const allowed = bearerCheck(token);
    return async (req, res, next) => {
      if (!allowed(req.get('authorization'))) {
        next();
        return;
      }
      const { text, contentType } = await source();
      res.set('Content-Type', contentType);
      res.set('Cache-Control', 'no-store');
      res.send(text);
    };
  }

  /** This process's metrics in the Prometheus text format. */
  async text(): Promise<MetricsText> {
    return { text: await this.registry.metrics(), contentType: this.registry.contentType };
  }

  /** The same backend, with every infer() timed into inference_duration_seconds. */
  instrument(backend: InferenceBackend): InferenceBackend {
    const histogram = this.inference;
    return {
      get description() {
        return backend.description;
      },
      load: (models: ModelSpec[]) => backend.load(models),
      close: () => backend.close(),
      ...(backend.ready === undefined ? {} : { ready: backend.ready.bind(backend) }),
      ...(backend.onServed === undefined ? {} : { onServed: backend.onServed.bind(backend) }),
      async infer(model: string, inputs: NamedTensors, options?: InferOptions): Promise<NamedTensors> {
        const end = histogram.startTimer({ model });
        try {
          const out = await backend.infer(model, inputs, options);
          end({ outcome: 'ok' });
          return out;
        } catch (err) {
          end({ outcome: err instanceof AppError && err.kind === 'unavailable' ? 'rejected' : 'error' });
          throw err;
        }
      },
    };
  }
}
