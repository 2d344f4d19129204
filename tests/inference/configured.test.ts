/**
 * The in-process backend (what every HTTP process runs when WEB_CONCURRENCY > 1, and what
 * INFERENCE_WORKERS=0 runs) keeps the worker pool's promises: QUEUE_LIMIT runs waiting per model,
 * then 503 overloaded with Retry-After; its queue in /metrics; and work whose request was already
 * answered (its deadline's 503) or whose client left is never started.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as ort from 'onnxruntime-node';
import request from 'supertest';
import { loadConfig } from '../../src/config';
import { tensor, type ModelSpec } from '../../src/inference/backend';
import { withSignal } from '../../src/inference/cancel-scope';
import { localBackend, queueStats } from '../../src/inference/configured';
import { OnnxBackend, type OnnxOptions } from '../../src/inference/onnx';
import { Metrics } from '../../src/metrics';
import { buildApp, MODELS_DIR } from '../helpers/app';
import { MODELS } from '../../src/models';
import { malaria } from '../../src/models/malaria';
import { modelSpec, readCard } from '../../src/predictors/registry';
import { rejection, sleep, until } from '../helpers/async';

const specs = (): ModelSpec[] => ['regression', 'malaria', 'sentiment'].map((name) => modelSpec(MODELS_DIR, readCard(MODELS_DIR, name)));


/**
 * The real OnnxBackend (its gates, its queue) around sessions that hold each run until released,
 * so a test decides when a run ends, and counts the runs started.
 */
class HeldSessions extends OnnxBackend {
  readonly started: string[] = [];
  private readonly holds: Array<() => void> = [];

  constructor(options: OnnxOptions) {
    super(options);
  }

  protected override async createSession(model: ModelSpec): Promise<ort.InferenceSession> {
    const session = {
      run: async () => {
        this.started.push(model.name);
        await new Promise<void>((r) => this.holds.push(r));
        return { y: { type: 'float32', dims: [1, 1], data: Float32Array.of(42) } };
      },
      release: async () => undefined,
    };
    return session as unknown as ort.InferenceSession;
  }

  /** Lets every run started so far finish. */
  releaseAll(): void {
    for (const release of this.holds.splice(0)) release();
  }
}

describe('the in-process backend as configured for several HTTP processes (WEB_CONCURRENCY=2)', () => {
  const config = loadConfig({ NODE_ENV: 'test', WEB_CONCURRENCY: '2', QUEUE_LIMIT: '3', ONNX_RUNS_PER_TURN: '1' });

  test('runs models in process, and refuses the runs beyond QUEUE_LIMIT waiting with 503 overloaded and Retry-After; the accepted ones answer', async () => {
    expect(config.inferenceWorkers).toBe(0);
    const backend = await localBackend(config, config.inferenceInline);
    await backend.load(specs());
    try {
      const image = tensor('uint8', new Uint8Array(64 * 64 * 3).fill(200), [1, 64, 64, 3]);
      const explain = tensor('bool', Uint8Array.of(0), [1]);
      const runs = Array.from({ length: 20 }, () => rejection(backend.infer('malaria', { image, explain })));
      const outcomes = await Promise.all(runs);
      // One running and three waiting are accepted; the sixteen others are refused at once.
      expect(outcomes.filter((o) => o === null)).toHaveLength(4);
      expect(outcomes.filter((o) => o !== null)).toEqual(Array(16).fill({ kind: 'unavailable', code: 'overloaded', retryAfter: 1 }));
    } finally {
      await backend.close();
    }
  });

  test('shows its queue in /metrics: inference_queue_depth per model and the runs in progress', async () => {
    const backend = new HeldSessions({ runsPerTurn: 1, queueLimit: 3 });
    await backend.load(specs());
    const stats = queueStats(backend);
    expect(stats).not.toBeNull();
    const metrics = new Metrics({ processMetrics: false });
    metrics.watchQueue(stats!);
    expect(await metrics.registry.metrics()).toContain('inference_queue_depth{model="malaria"} 0');
    const x = { x: tensor('float32', Float32Array.of(1), [1, 1]) };
    const runs = [0, 1, 2].map(() => backend.infer('malaria', x));
    await until(() => backend.started.length === 1);
    const text = await metrics.registry.metrics();
    expect(text).toContain('inference_queue_depth{model="malaria"} 2');
    expect(text).toContain('inference_queue_depth{model="sentiment"} 0');
    expect(text).toContain('inference_workers_busy 1');
    for (let n = 1; n <= 3; n++) {
      await until(() => backend.started.length === n);
      backend.releaseAll();
    }
    await Promise.all(runs);
    await backend.close();
  });

  test('a run queued inside a request scope whose signal aborts is skipped; one outside any scope still runs', async () => {
    const backend = new HeldSessions({ runsPerTurn: 1 });
    await backend.load(specs());
    const x = { x: tensor('float32', Float32Array.of(1), [1, 1]) };
    const first = backend.infer('regression', x);
    const answered = new AbortController();
    const skipped = withSignal(answered.signal, () => rejection(backend.infer('regression', x)));
    const unscoped = backend.infer('regression', x);
    answered.abort();
    expect(await skipped).toMatchObject({ kind: 'unavailable', code: 'timeout' });
    backend.releaseAll();
    await first;
    await until(() => backend.started.length === 2);
    backend.releaseAll();
    await unscoped;
    expect(backend.started).toEqual(['regression', 'regression']);
    await backend.close();
  });
});

describe('runs of a model started at once: its own limit unless ONNX_RUNS_PER_TURN is set', () => {
  /** The specs as the registry builds them: each with its definition's runsPerTurn. */
  const ownSpecs = (): ModelSpec[] =>
    MODELS.map((definition) => modelSpec(MODELS_DIR, readCard(MODELS_DIR, definition.name), definition));
  const image = tensor('uint8', new Uint8Array(64 * 64 * 3).fill(200), [1, 64, 64, 3]);
  const explain = tensor('bool', Uint8Array.of(0), [1]);
  const review = { review: tensor('string', ['a fine film'], [1, 1]) };

  /** Asks for three runs of malaria and three of sentiment at once; how many of each started before any ended. */
  async function startedAtOnce(env: Record<string, string>): Promise<{ malaria: number; sentiment: number }> {
    const config = loadConfig({ NODE_ENV: 'test', WEB_CONCURRENCY: '2', ...env });
    const backend = new HeldSessions({ runsPerTurn: config.onnxRunsPerTurn });
    await backend.load(ownSpecs());
    const runs = [
      ...Array.from({ length: 3 }, () => backend.infer('malaria', { image, explain })),
      ...Array.from({ length: 3 }, () => backend.infer('sentiment', review)),
    ];
    await sleep(20);
    const count = (name: string) => backend.started.filter((n) => n === name).length;
    const started = { malaria: count('malaria'), sentiment: count('sentiment') };
    while (backend.started.length < 6) {
      backend.releaseAll();
      await sleep(5);
    }
    backend.releaseAll();
    await Promise.all(runs);
    await backend.close();
    return started;
  }

  test('unset: one malaria run at a time (its definition says 1: a run takes most of a millisecond), two of the review model (the default)', async () => {
    expect(malaria.runsPerTurn).toBe(1);
    expect(await startedAtOnce({})).toEqual({ malaria: 1, sentiment: 2 });
  });

  test('ONNX_RUNS_PER_TURN=3 applies to every model, the malaria graph included', async () => {
    expect(await startedAtOnce({ ONNX_RUNS_PER_TURN: '3' })).toEqual({ malaria: 3, sentiment: 3 });
  });
});

describe('work whose client was already answered is not started (the app, in-process backend, one run at a time)', () => {
  test('a prediction still queued when its deadline answers 503 never runs', async () => {
    const backend = new HeldSessions({ runsPerTurn: 1, queueLimit: 10 });
    const { app } = await buildApp({ backend, env: { REQUEST_TIMEOUT_MS: '200' } });
    const post = () => request(app).post('/api/predict/regression').send({ x: 5 });
    const [running, queued] = await Promise.all([post(), post()]);
    // Both got the deadline's 503: the first while its run was held, the second while queued behind it.
    for (const res of [running, queued]) {
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('2');
      expect(res.body.error.code).toBe('timeout');
    }
    expect(backend.started).toEqual(['regression']);
    backend.releaseAll();
    await sleep(50);
    // The second run would start now that the first finished; its client has its answer already.
    expect(backend.started).toEqual(['regression']);
    expect(backend.queueDepth().regression).toBe(0);
    await backend.close();
  });

  test('a prediction still queued when its client disconnects never runs; the next client is served', async () => {
    const backend = new HeldSessions({ runsPerTurn: 1, queueLimit: 10 });
    const { app, errors } = await buildApp({ backend });
    const server = http.createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const post = (): { req: http.ClientRequest; answer: Promise<number> } => {
      const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/api/predict/regression', headers: { 'content-type': 'application/json' } });
      const answer = new Promise<number>((resolve, reject) => {
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
      });
      req.end('{"x":5}');
      return { req, answer };
    };
    try {
      const first = post();
      await until(() => backend.started.length === 1);
      const leaving = post();
      leaving.answer.catch(() => undefined);
      await until(() => backend.queueDepth().regression === 1);
      leaving.req.destroy();
      await until(() => backend.queueDepth().regression === 0);
      backend.releaseAll();
      expect(await first.answer).toBe(200);
      const next = post();
      await until(() => backend.started.length === 2);
      backend.releaseAll();
      expect(await next.answer).toBe(200);
      // Two runs: the first client's and the next one's; never the one that left.
      expect(backend.started).toEqual(['regression', 'regression']);
      // Skipping it is not a failure: no error logged (nor an answer tried on the closed socket).
      expect(errors).toEqual([]);
    } finally {
      await new Promise((r) => server.close(r));
      server.closeAllConnections();
      await backend.close();
    }
  });
});
