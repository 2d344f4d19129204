/**
 * Metrics: the /metrics endpoint, per-route/model/status request counts and latency, inference
 * time of an instrumented backend, and the queue gauges of a pooled backend.
 */
import express from 'express';
import request from 'supertest';
import { unavailable } from '../src/errors';
import type { InferenceBackend } from '../src/inference/backend';
import { Metrics } from '../src/metrics';

function appWith(metrics: Metrics): express.Express {
  const app = express();
  app.use(metrics.middleware());
  app.get('/metrics', metrics.handler());
  const api = express.Router();
  api.post('/predict/:model', (req, res) => {
    res.status(req.params.model === 'malaria' ? 503 : 200).json({ ok: true });
  });
  app.use('/api', api);
  app.get('/healthz', (_req, res) => res.json({ status: 'ok' }));
  return app;
}

const fakeBackend = (fail: unknown = null): InferenceBackend => ({
  description: 'fake',
  load: async () => undefined,
  close: async () => undefined,
  infer: async () => {
    if (fail !== null) throw fail;
    return {};
  },
});

describe('Metrics', () => {
  describe('GET /metrics', () => {
    it('answers 200 in the Prometheus text format with process memory and event-loop lag', async () => {
      const metrics = new Metrics();
      const res = await request(appWith(metrics)).get('/metrics');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(res.text).toMatch(/^process_resident_memory_bytes \d+/m);
      expect(res.text).toMatch(/^nodejs_eventloop_lag_p99_seconds /m);
    });
  });

  describe('GET /metrics with a token', () => {
    it('answers only a scraper that sends the bearer token, and 404s others', async () => {
      const metrics = new Metrics({ processMetrics: false });
      const app = express();
      app.get('/metrics', metrics.handler('s3cret'));
      expect((await request(app).get('/metrics')).status).toBe(404);
      expect((await request(app).get('/metrics').set('Authorization', 'Bearer wrong!')).status).toBe(404);
      const ok = await request(app).get('/metrics').set('Authorization', 'Bearer s3cret');
      expect(ok.status).toBe(200);
      expect(ok.text).toContain('# TYPE http_requests_total counter');
    });
  });

  describe('HTTP middleware', () => {
    it('counts requests by route, model and status, under a mounted router too', async () => {
      const metrics = new Metrics({ processMetrics: false });
      const app = appWith(metrics);
      await request(app).post('/api/predict/regression').send({ x: 5 });
      await request(app).post('/api/predict/regression').send({ x: 6 });
      await request(app).post('/api/predict/malaria');
      await request(app).get('/healthz');
      await request(app).get('/wp-admin/../etc/passwd');
      const text = (await request(app).get('/metrics')).text;
      expect(text).toContain('http_requests_total{method="POST",route="/api/predict/:model",model="regression",status="200"} 2');
      expect(text).toContain('http_requests_total{method="POST",route="/api/predict/:model",model="malaria",status="503"} 1');
      expect(text).toContain('http_requests_total{method="GET",route="/healthz",model="",status="200"} 1');
      expect(text).toContain('http_requests_total{method="GET",route="other",model="",status="404"} 1');
      expect(text).toMatch(/http_request_duration_seconds_count\{method="POST",route="\/api\/predict\/:model",model="regression",status="200"\} 2/);
      expect(text).not.toContain('passwd');
    });
  });

  describe('instrument()', () => {
    it('times each infer() per model and outcome, and passes errors through', async () => {
      const metrics = new Metrics({ processMetrics: false });
      await metrics.instrument(fakeBackend()).infer('sentiment', {});
      const overloaded = metrics.instrument(fakeBackend(unavailable('overloaded', 'busy')));
      await expect(overloaded.infer('malaria', {})).rejects.toMatchObject({ code: 'overloaded' });
      const text = await metrics.registry.metrics();
      expect(text).toContain('inference_duration_seconds_count{model="sentiment",outcome="ok"} 1');
      expect(text).toContain('inference_duration_seconds_count{model="malaria",outcome="rejected"} 1');
    });

    it('keeps the backend description', () => {
      expect(new Metrics({ processMetrics: false }).instrument(fakeBackend()).description).toBe('fake');
    });
  });

  describe('watchQueue()', () => {
    it('reports queue depth per model and busy workers at each scrape', async () => {
      const metrics = new Metrics({ processMetrics: false });
      let depth = 3;
      metrics.watchQueue({ queueDepth: () => ({ malaria: depth, sentiment: 0 }), busyWorkers: () => 2 });
      expect(await metrics.registry.metrics()).toContain('inference_queue_depth{model="malaria"} 3');
      depth = 0;
      const text = await metrics.registry.metrics();
      expect(text).toContain('inference_queue_depth{model="malaria"} 0');
      expect(text).toContain('inference_workers_busy 2');
    });
  });
});

describe('the prediction log in /metrics (issue 26)', () => {
  it('counts logged predictions by model, source and label, their confidence, feedback, drops and drift', async () => {
    const metrics = new Metrics({ processMetrics: false });
    metrics.predictionLogged('sentiment', 'api', 'positive', 0.93);
    metrics.predictionLogged('sentiment', 'api', 'positive', 0.61);
    metrics.predictionLogged('sentiment', 'page', 'negative', 0.99);
    metrics.predictionLogged('regression', 'api', null, null);
    metrics.feedbackStored('sentiment');
    metrics.logEntriesDropped(3);
    metrics.driftComputed({ malaria: { drift: { width: 8.7361, height: null } } });
    const { text } = await metrics.text();
    expect(text).toContain('predictions_logged_total{model="sentiment",source="api",label="positive"} 2');
    expect(text).toContain('predictions_logged_total{model="sentiment",source="page",label="negative"} 1');
    expect(text).toContain('predictions_logged_total{model="regression",source="api",label=""} 1');
    expect(text).toContain('prediction_confidence_bucket{le="0.65",model="sentiment"} 1');
    expect(text).toContain('prediction_confidence_count{model="sentiment"} 3');
    expect(text).toContain('feedback_total{model="sentiment"} 1');
    expect(text).toContain('prediction_log_dropped_total 3');
    expect(text).toContain('input_drift_psi{model="malaria",feature="width"} 8.7361');
    expect(text).not.toContain('feature="height"');
    // Scraped again, the counts stay what they are (not added twice).
    metrics.predictionLogged('sentiment', 'api', 'positive', 0.9);
    expect((await metrics.text()).text).toContain('predictions_logged_total{model="sentiment",source="api",label="positive"} 3');
  });
});
