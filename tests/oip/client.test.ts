/**
 * The OIP v2 client backend (RemoteBackend, INFERENCE_URL) against recorded Triton answers
 * (tests/helpers/triton.ts) and against our own model server role: what it sends, what it makes
 * of the answers, the start-up check against the cards, and every way the model tier can fail
 * (reaching people as 503 with Retry-After, never a 500 or a hang).
 */
import { AppError } from '../../src/errors';
import { OnnxBackend } from '../../src/inference/onnx';
import { OipTransport } from '../../src/inference/oip-transport';
import { RemoteBackend, type RemoteOptions } from '../../src/inference/remote';
import { MODEL_NAMES, Registry, readCard } from '../../src/predictors/registry';
import { MODELS_DIR, cellImage } from '../helpers/app';
import { buildModelServer, listen } from '../helpers/oip';
import { type FakeTriton, RECORDED_OUTPUTS, startFakeTriton } from '../helpers/triton';
import { sleep } from '../helpers/async';

const REVIEW = 'A warm, funny and beautifully acted film. I loved every minute of it.';

/** A registry (the app's predictors) over a RemoteBackend pointing at `url`. */
async function remoteRegistry(url: string, options: Partial<RemoteOptions> = {}) {
  const backend = new RemoteBackend({ url, timeoutMs: 2000, retries: 2, backoffMs: 10, probeMs: 100, readyCacheMs: 0, ...options });
  const registry = new Registry(backend, MODELS_DIR, { maxPixels: 25e6 });
  return { backend, registry };
}

/** The promise's rejection as an AppError (fails the test if it resolves or rejects otherwise). */
async function httpError(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe('against recorded Triton answers', () => {
  let triton: FakeTriton;
  let ctx: Awaited<ReturnType<typeof remoteRegistry>>;
  beforeEach(async () => {
    triton = await startFakeTriton();
    ctx = await remoteRegistry(triton.url, { token: 't0ken' });
  });
  afterEach(async () => {
    await ctx.backend.close();
    await triton.close();
  });

  it('loads: reads the extensions, checks each model against its card, and says binary tensors are used', async () => {
    await ctx.registry.load();
    expect(ctx.backend.description).toBe(`Open Inference Protocol v2 model server at ${triton.url}, binary tensors`);
    const paths = triton.received.map((r) => `${r.method} ${r.path}`);
    expect(paths).toEqual(expect.arrayContaining(['GET /v2/health/ready', 'GET /v2', ...MODEL_NAMES.map((m) => `GET /v2/models/${m}`)]));
    expect(triton.received.filter((r) => r.path !== '/v2/health/ready').every((r) => r.headers.authorization === 'Bearer t0ken')).toBe(true);
    expect(await ctx.registry.backendReady()).toBe(true);
  });

  it('sentiment: sends the review as BYTES [1, 1] (the config reshapes [1] to Triton) and its explain flag off, asks for binary outputs, reads them', async () => {
    await ctx.registry.load();
    const p = await ctx.registry.get('sentiment').predict(REVIEW);
    const sent = triton.received.at(-1);
    expect(sent?.path).toBe('/v2/models/sentiment/infer');
    expect(sent?.json).toEqual({
      inputs: [
        { name: 'review', datatype: 'BYTES', shape: [1, 1], data: [REVIEW] },
        // The explain switch: one byte, false.
        { name: 'explain', datatype: 'BOOL', shape: [1, 1], parameters: { binary_data_size: 1 } },
      ],
      // Named, so that a server returning every configured output by default computes no more.
      outputs: [{ name: 'probabilities' }],
      parameters: { binary_data_output: true },
    });
    expect(sent?.binaryBytes).toBe(1);
    expect(p).toMatchObject({ model: 'sentiment', version: triton.version, label: 'positive', confidence: 0.9873, scores: { negative: 0.0127, positive: 0.9873 } });
  });

  it('malaria: sends the pixels as binary UINT8 (Inference-Header-Content-Length), shaped as the card says, and its explain flag off', async () => {
    await ctx.registry.load();
    const p = await ctx.registry.get('malaria').predict(await cellImage('png'));
    const sent = triton.received.at(-1);
    const [input, flag] = sent?.json?.inputs as { name: string; datatype: string; shape: number[]; parameters: { binary_data_size: number } }[];
    const count = (input?.shape ?? []).reduce((a, b) => a * b, 1);
    expect(input).toMatchObject({ name: 'image', datatype: 'UINT8', parameters: { binary_data_size: count } });
    expect(input?.shape[0]).toBe(1);
    expect(input?.shape.at(-1)).toBe(3);
    // The explain switch (one byte, false; [1, 1] on the wire, as the config reshapes it) follows the pixels.
    expect(flag).toMatchObject({ name: 'explain', datatype: 'BOOL', shape: [1, 1], parameters: { binary_data_size: 1 } });
    expect(sent?.binaryBytes).toBe(count + 1);
    expect(Number(sent?.headers['inference-header-content-length'])).toBeGreaterThan(0);
    expect(p).toMatchObject({ model: 'malaria', label: 'parasitized', confidence: 0.9512 });
  });

  it('regression: reads the value, as JSON too when the server cannot send binary', async () => {
    triton.serverMetadata = { name: 'kserve-like', version: '0.1', extensions: [] };
    await ctx.registry.load();
    expect(ctx.backend.description).not.toMatch(/binary/);
    const p = await ctx.registry.get('regression').predict(5);
    expect(triton.received.at(-1)?.json).toEqual({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [5] }], outputs: [{ name: 'y' }] });
    expect(p.value).toBe(Math.round((RECORDED_OUTPUTS.regression?.data[0] as number) * 1e4) / 1e4);
  });

  it('waits at start until the server is ready (Triton answers 400 until then)', async () => {
    triton.ready = false;
    const loading = ctx.registry.load();
    await sleep(300);
    expect(ctx.registry.ready).toBe(false);
    triton.ready = true;
    await loading;
    expect(ctx.registry.ready).toBe(true);
  });

  it('stops the start, saying what differs, when a model does not match its card', async () => {
    const card = readCard(MODELS_DIR, 'malaria');
    triton.metadata.malaria = {
      name: 'malaria',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'image', datatype: 'FP32', shape: card.inputs[0]?.shape as number[] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }],
    };
    const err = await ctx.registry.load().then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/does not serve the models the cards describe/);
    expect(err?.message).toMatch(/malaria: input "image": the card has UINT8 .*; the model server has FP32/);
    expect(err?.message).toMatch(/malaria: output "probabilities": .* the model server has FP32 \[-1, 3\]/);
  });

  it('stops the start when the server does not have a model (Triton 404 "Request for unknown model")', async () => {
    triton.missing.add('sentiment');
    await expect(ctx.registry.load()).rejects.toThrow(/sentiment answered 404: Request for unknown model: 'sentiment' is not found/);
  });

  it('stops the start when the server refuses the token (a proxy in front of Triton answering 401)', async () => {
    const proxy = await listen((req, res) => {
      if (req.url === '/v2/health/ready') res.writeHead(200).end();
      else res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
    });
    const c = await remoteRegistry(proxy.url);
    await expect(c.registry.load()).rejects.toThrow(/refused this app \(401\): check INFERENCE_TOKEN/);
    await c.backend.close();
    await proxy.close();
  });

  it("turns Triton's 400 (unexpected shape) into 503 model_server_error with Retry-After, never a 500", async () => {
    await ctx.registry.load();
    triton.nextInfer.push({ status: 400, body: JSON.stringify({ error: "[request id: <id_unknown>] unexpected shape for input 'x' for model 'regression'. Expected [-1,1], got [1]." }) });
    const err = await httpError(ctx.registry.get('regression').predict(5));
    expect(err).toMatchObject({ kind: 'unavailable', code: 'model_server_error' });
    expect(err.retryAfter).toBeGreaterThan(0);
    expect(err.message).not.toMatch(/request id|Expected/);
  });

  it("retries Triton's 503 (unavailable) with backoff, and succeeds when it passes", async () => {
    await ctx.registry.load();
    const before = triton.received.length;
    triton.nextInfer.push({ status: 503, body: '{"error":"Server not ready"}' }, { status: 503, body: '{"error":"Server not ready"}' });
    const p = await ctx.registry.get('regression').predict(5);
    expect(p.model).toBe('regression');
    expect(triton.received.length - before).toBe(3);
  });

  it('gives up after the retries on a lasting 503: 503 overloaded with the server\'s Retry-After', async () => {
    await ctx.registry.load();
    for (let i = 0; i < 3; i++) triton.nextInfer.push({ status: 503, body: '{"error":"busy"}', headers: { 'retry-after': '4' } });
    const err = await httpError(ctx.registry.get('regression').predict(5));
    expect(err).toMatchObject({ kind: 'unavailable', code: 'overloaded', retryAfter: 4 });
  });

  it('does not retry a call that timed out: 503 model_server_timeout after INFERENCE_TIMEOUT_MS', async () => {
    await ctx.backend.close();
    ctx = await remoteRegistry(triton.url, { timeoutMs: 300 });
    await ctx.registry.load();
    triton.hang = true;
    const before = triton.received.length;
    const started = Date.now();
    const err = await httpError(ctx.registry.get('sentiment').predict(REVIEW));
    expect(err).toMatchObject({ kind: 'unavailable', code: 'model_server_timeout' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(triton.received.length - before).toBe(1);
  });

  it('learns a new version from the answers: the prediction and the card follow', async () => {
    await ctx.registry.load();
    triton.version = '7';
    const p = await ctx.registry.get('sentiment').predict(REVIEW);
    expect(p.version).toBe('7');
    expect(triton.received.map((r) => r.path)).toContain('/v2/models/sentiment/versions/7');
    const card = ctx.registry.cards().find((c) => c.name === 'sentiment');
    // Triton serves no card: the app's own, with the version that runs.
    expect(card).toEqual({ ...readCard(MODELS_DIR, 'sentiment'), version: '7' });
  });
});

describe('an input larger than the model tier takes', () => {
  it("is 413 too_large_for_model_server, when the tier refuses it from its Content-Length without reading it", async () => {
    const tier = await buildModelServer({ env: { MODEL_MAX_BODY_MB: '0.5' } });
    const listening = await listen(tier.app);
    const { backend, registry } = await remoteRegistry(listening.url);
    try {
      await registry.load();
      // A large image: its decoded pixels (3 bytes each) are far more than 0.5 MB.
      const big = await cellImage('png', { size: 1200 });
      const err = await httpError(registry.get('malaria').predict(big));
      expect(err).toMatchObject({ kind: 'too_large', code: 'too_large_for_model_server' });
      expect((await registry.get('regression').predict(1)).model).toBe('regression');
    } finally {
      await backend.close();
      await listening.close();
      await tier.store.close();
    }
  });
});

describe('when the model tier dies and comes back', () => {
  it('fails at once with 503 + Retry-After, opens the circuit, reports not ready, and recovers by itself', async () => {
    const triton = await startFakeTriton();
    const { backend, registry } = await remoteRegistry(triton.url);
    await registry.load();
    const port = triton.port;
    await triton.close();

    const started = Date.now();
    for (let i = 0; i < 3; i++) {
      const err = await httpError(registry.get('regression').predict(1));
      expect(err).toMatchObject({ kind: 'unavailable', code: 'model_server_unavailable' });
      expect(err.retryAfter).toBeGreaterThan(0);
    }
    expect(Date.now() - started).toBeLessThan(1000);
    // The circuit is open: a prediction fails without trying the tier at all (no inference call
    // leaves; only the breaker's probes of /v2/health/ready do), so it costs no connect and no backoff.
    const calls = jest.spyOn(OipTransport.prototype, 'request');
    try {
      const err = await httpError(registry.get('sentiment').predict(REVIEW));
      expect(err).toMatchObject({ kind: 'unavailable', code: 'model_server_unavailable' });
      expect(calls.mock.calls.filter(([, path]) => path.endsWith('/infer'))).toEqual([]);
    } finally {
      calls.mockRestore();
    }
    expect(await registry.backendReady()).toBe(false);

    const back = await startFakeTriton(port);
    for (let i = 0; i < 50 && !(await registry.backendReady()); i++) await sleep(50);
    expect(await registry.backendReady()).toBe(true);
    expect((await registry.get('regression').predict(1)).model).toBe('regression');
    await backend.close();
    await back.close();
  });
});

describe('against our own model server role', () => {
  it('gives exactly the in-process predictions for all three models', async () => {
    const tier = await buildModelServer();
    const listening = await listen(tier.app);
    const remote = await remoteRegistry(listening.url);
    const local = new Registry(new OnnxBackend(), MODELS_DIR, { maxPixels: 25e6 });
    await Promise.all([remote.registry.load(), local.load()]);
    try {
      for (const x of [-1000, -3.5, 0, 5, 12345]) {
        expect(await remote.registry.get('regression').predict(x)).toEqual(await local.get('regression').predict(x));
      }
      for (const review of [REVIEW, 'Dull and badly written. I want my two hours back.', 'ok']) {
        expect(await remote.registry.get('sentiment').predict(review)).toEqual(await local.get('sentiment').predict(review));
      }
      for (const image of [await cellImage('png'), await cellImage('jpeg', { parasite: true, size: 97 })]) {
        expect(await remote.registry.get('malaria').predict(image)).toEqual(await local.get('malaria').predict(image));
      }
      expect(remote.registry.cards()).toEqual(local.cards());
    } finally {
      await remote.backend.close();
      await local.close();
      await listening.close();
      await tier.store.close();
    }
  });
});
