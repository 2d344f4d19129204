/**
 * Conformance of the model server role (ROLE=models) to the Open Inference Protocol v2 REST API,
 * against the real repository and models (onnxruntime in this thread): every endpoint, status
 * codes, datatypes, shapes, batches of 8, Triton's binary tensor data extension, and bad input
 * that must get a 4xx with {"error": "…"} while the server keeps serving. Shapes and versions come
 * from the repository, never from this file.
 */
import http from 'node:http';
import request from 'supertest';
import { unavailable } from '../../src/errors';
import type { InferenceBackend, NamedTensors } from '../../src/inference/backend';
import { OnnxBackend } from '../../src/inference/onnx';
import { type TensorMetadata, writeMessage } from '../../src/oip/protocol';
import { defaultVersion, modelNames, readVersionCard, servedVersions, readModelConfig, versionsOnDisk } from '../../src/oip/repository';
import { MODELS_DIR } from '../helpers/app';
import { buildModelServer, listen } from '../helpers/oip';

let ctx: Awaited<ReturnType<typeof buildModelServer>>;
beforeAll(async () => {
  ctx = await buildModelServer();
});
afterAll(() => ctx.store.close());

/** The versions the repository's policy serves for `name`, and the one a request without a version gets. */
const servedList = (name: string): string[] => servedVersions(readModelConfig(MODELS_DIR, name), versionsOnDisk(MODELS_DIR, name));
const servedVersion = (name: string): string => defaultVersion(MODELS_DIR, name, servedList(name)) as string;
const metadataOf = (name: string) => ctx.store.entries().find((e) => e.name === name)?.metadata as { inputs: TensorMetadata[]; outputs: TensorMetadata[] };

/** A concrete shape for a declared one: batch `n` first, a free dimension (-1) of size `free`. */
const concrete = (shape: number[], n: number, free = 40): number[] => shape.map((d, i) => (i === 0 ? n : d === -1 ? free : d));
const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

const REVIEWS = [
  'One of the best films I have seen in years. Brilliant acting and a wonderful story; I loved it.',
  'A total waste of time. Boring, stupid and badly acted. The worst film of the year.',
];

/** A batch of `n` valid inputs for the model, shaped as its metadata says. */
function sampleInputs(name: string, n: number): { name: string; datatype: string; shape: number[]; data: unknown[] }[] {
  return metadataOf(name).inputs.map((t) => {
    const shape = concrete(t.shape, n);
    const count = size(shape);
    const data =
      t.datatype === 'BYTES'
        ? Array.from({ length: count }, (_, i) => REVIEWS[i % 2] as string)
        : t.datatype === 'UINT8'
          ? Array.from({ length: count }, (_, i) => (i * 37) % 256)
          : t.datatype === 'BOOL'
            ? Array.from({ length: count }, () => false)
            : Array.from({ length: count }, (_, i) => i - 3);
    return { name: t.name, datatype: t.datatype, shape, data };
  });
}

const expectError = (res: request.Response, status: number, pattern?: RegExp): void => {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(Object.keys(res.body)).toEqual(['error']);
  expect(typeof res.body.error).toBe('string');
  if (pattern !== undefined) expect(res.body.error).toMatch(pattern);
  expect(res.body.error).not.toMatch(/\bat .+\.(ts|js):\d+/);
};

const MODELS = modelNames(MODELS_DIR);

describe('health', () => {
  it('GET /v2/health/live and /v2/health/ready answer 200 with an empty body', async () => {
    for (const path of ['/v2/health/live', '/v2/health/ready']) {
      const res = await request(ctx.app).get(path);
      expect(res.status).toBe(200);
      expect(res.text).toBe('');
    }
  });

  it('GET /v2/health/ready is 503 with Retry-After before the models are loaded, and while shutting down', async () => {
    const loading = await buildModelServer({ load: false });
    const res = await request(loading.app).get('/v2/health/ready');
    expectError(res, 503, /loading/);
    expect(res.headers['retry-after']).toBe('2');
    expectError(await request(loading.app).post(`/v2/models/${MODELS[0]}/infer`).send({ inputs: [] }), 503, /loading/);
    expect((await request(loading.app).get('/v2/health/live')).status).toBe(200);

    const stopping = await buildModelServer();
    stopping.lifecycle.shuttingDown = true;
    expectError(await request(stopping.app).get('/v2/health/ready'), 503, /shutting down/);
    await stopping.store.close();
  });
});

describe('metadata', () => {
  it('GET /v2 names the server and its extensions', async () => {
    const res = await request(ctx.app).get('/v2');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ name: 'ml-forms', version: expect.any(String), extensions: expect.arrayContaining(['binary_tensor_data', 'model_repository']) });
  });

  it.each(MODELS)('GET /v2/models/%s describes the config as Triton does (batch dimension first, onnxruntime_onnx)', async (name) => {
    const config = readModelConfig(MODELS_DIR, name);
    const res = await request(ctx.app).get(`/v2/models/${name}`);
    expect(res.status).toBe(200);
    const batch = config.maxBatchSize > 0 ? [-1] : [];
    expect(res.body).toEqual({
      name,
      versions: [servedVersion(name)],
      platform: 'onnxruntime_onnx',
      inputs: config.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: [...batch, ...t.dims] })),
      outputs: config.outputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: [...batch, ...t.dims] })),
    });
    const versioned = await request(ctx.app).get(`/v2/models/${name}/versions/${servedVersion(name)}`);
    expect(versioned.body).toEqual(res.body);
  });

  it.each(MODELS)('GET /v2/models/%s/ready and /versions/{v}/ready answer 200', async (name) => {
    expect((await request(ctx.app).get(`/v2/models/${name}/ready`)).status).toBe(200);
    expect((await request(ctx.app).get(`/v2/models/${name}/versions/${servedVersion(name)}/ready`)).status).toBe(200);
  });

  it.each(MODELS)('GET /v2/models/%s/card is the card of the served version', async (name) => {
    const res = await request(ctx.app).get(`/v2/models/${name}/card`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(readVersionCard(MODELS_DIR, name, servedVersion(name)));
    expect(res.body.version).toBe(servedVersion(name));
  });

  it('answers 404 {"error"} for an unknown model or version, on every model endpoint', async () => {
    for (const path of ['/v2/models/weather', '/v2/models/weather/ready', '/v2/models/weather/card']) expectError(await request(ctx.app).get(path), 404, /unknown model "weather"/);
    expectError(await request(ctx.app).post('/v2/models/weather/infer').send({ inputs: [] }), 404, /unknown model/);
    const name = MODELS[0] as string;
    expectError(await request(ctx.app).get(`/v2/models/${name}/versions/999`), 404, /no version "999"/);
    expectError(await request(ctx.app).get(`/v2/models/${name}/versions/999/ready`), 404);
    expectError(await request(ctx.app).post(`/v2/models/${name}/versions/999/infer`).send({ inputs: sampleInputs(name, 1) }), 404);
    expectError(await request(ctx.app).get('/v2/nothing/here'), 404);
  });

  const extra = MODELS.flatMap((name) => servedList(name).filter((v) => v !== servedVersion(name)).map((v) => [name, v] as const));
  it('serves another version beside the default (the 8-bit versions of training/quantize.py)', () => {
    expect(extra.map(([name]) => name)).toEqual(expect.arrayContaining(['malaria', 'sentiment']));
  });

  it.each(extra)('%s version %s answers at /versions/{v}: its metadata, its graph, close to the default version', async (name, version) => {
    const meta = await request(ctx.app).get(`/v2/models/${name}/versions/${version}`);
    expect(meta.status).toBe(200);
    expect(meta.body).toEqual({ ...(await request(ctx.app).get(`/v2/models/${name}`)).body, versions: [version] });
    expect((await request(ctx.app).get(`/v2/models/${name}/versions/${version}/ready`)).status).toBe(200);
    const inputs = sampleInputs(name, 2);
    const other = await request(ctx.app).post(`/v2/models/${name}/versions/${version}/infer`).send({ inputs });
    const base = await request(ctx.app).post(`/v2/models/${name}/infer`).send({ inputs });
    expect(other.status).toBe(200);
    expect(other.body.model_version).toBe(version);
    expect(base.body.model_version).toBe(servedVersion(name));
    const data = (r: request.Response): number[] => r.body.outputs[0].data as number[];
    expect(data(other)).toHaveLength(data(base).length);
    data(other).forEach((p, i) => expect(Math.abs(p - (data(base)[i] as number))).toBeLessThan(0.1));
  });
});

describe('inference', () => {
  it('regression: a batch of 8 FP32 rows gives 8 values on the fitted line', async () => {
    const card = readVersionCard(MODELS_DIR, 'regression', servedVersion('regression'));
    const inputs = sampleInputs('regression', 8);
    const res = await request(ctx.app).post('/v2/models/regression/infer').send({ id: 'req-1', inputs });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({ model_name: 'regression', model_version: servedVersion('regression'), id: 'req-1' });
    const [y] = res.body.outputs;
    expect(y).toMatchObject({ name: 'y', datatype: 'FP32', shape: [8, 1] });
    const xs = inputs[0]?.data as number[];
    xs.forEach((x, i) => expect(y.data[i]).toBeCloseTo((card?.fitted?.slope as number) * x + (card?.fitted?.intercept as number), 3));
  });

  it('sentiment: a batch of 8 BYTES reviews gives 8 rows of probabilities, right for clear reviews', async () => {
    const res = await request(ctx.app).post('/v2/models/sentiment/infer').send({ inputs: sampleInputs('sentiment', 8) });
    expect(res.status).toBe(200);
    const [p] = res.body.outputs;
    expect(p).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [8, 2] });
    for (let i = 0; i < 8; i++) {
      expect(p.data[2 * i] + p.data[2 * i + 1]).toBeCloseTo(1, 5);
      const positive = p.data[2 * i + 1] > 0.5;
      expect(positive).toBe(i % 2 === 0); // even rows hold the glowing review
    }
  });

  it('malaria: a batch of 8 UINT8 images of the declared shape gives 8 rows of probabilities', async () => {
    const res = await request(ctx.app).post('/v2/models/malaria/infer').send({ inputs: sampleInputs('malaria', 8) });
    expect(res.status).toBe(200);
    const [p] = res.body.outputs;
    expect(p).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [8, 2] });
    for (let i = 0; i < 8; i++) expect(p.data[2 * i] + p.data[2 * i + 1]).toBeCloseTo(1, 5);
  });

  it('accepts nested row-major data and the versioned path', async () => {
    const flat = sampleInputs('regression', 3)[0] as { name: string; datatype: string; shape: number[]; data: number[] };
    const nested = { ...flat, data: flat.data.map((v) => [v]) };
    const a = await request(ctx.app).post('/v2/models/regression/infer').send({ inputs: [flat] });
    const b = await request(ctx.app).post(`/v2/models/regression/versions/${servedVersion('regression')}/infer`).send({ inputs: [nested] });
    expect(b.status).toBe(200);
    expect(b.body.outputs).toEqual(a.body.outputs);
  });

  it('returns only the outputs asked for, as binary data when asked (binary_data / binary_data_output)', async () => {
    const inputs = sampleInputs('sentiment', 2);
    const json = await request(ctx.app).post('/v2/models/sentiment/infer').send({ inputs, outputs: [{ name: 'probabilities' }] });
    for (const body of [
      { inputs, outputs: [{ name: 'probabilities', parameters: { binary_data: true } }] },
      { inputs, parameters: { binary_data_output: true } },
    ]) {
      const res = await request(ctx.app)
        .post('/v2/models/sentiment/infer')
        .send(body)
        .buffer(true)
        .parse((r, done) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => done(null, Buffer.concat(chunks)));
        });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/octet-stream/);
      const headerLength = Number(res.headers['inference-header-content-length']);
      const raw = res.body as Buffer;
      const head = JSON.parse(raw.subarray(0, headerLength).toString('utf8'));
      expect(head.outputs[0]).toEqual({ name: 'probabilities', datatype: 'FP32', shape: [2, 2], parameters: { binary_data_size: 16 } });
      const bytes = raw.subarray(headerLength);
      const values = Array.from(new Float32Array(new Uint8Array(bytes).buffer));
      expect(values).toEqual(json.body.outputs[0].data);
    }
  });

  it('takes binary input tensors (Inference-Header-Content-Length), with the same answer as JSON', async () => {
    const inputs = sampleInputs('malaria', 2)[0] as { name: string; datatype: string; shape: number[]; data: number[] };
    const json = await request(ctx.app).post('/v2/models/malaria/infer').send({ inputs: [inputs] });
    const reviews = sampleInputs('sentiment', 2)[0] as { name: string; datatype: string; shape: number[]; data: string[] };
    const bytes = Buffer.from(inputs.data);
    const { body, headerLength } = writeMessage({ inputs: [{ name: inputs.name, datatype: 'UINT8', shape: inputs.shape, parameters: { binary_data_size: bytes.length } }] }, [bytes]);
    const res = await request(ctx.app)
      .post('/v2/models/malaria/infer')
      .set('Content-Type', 'application/octet-stream')
      .set('Inference-Header-Content-Length', String(headerLength))
      .send(body);
    expect(res.status).toBe(200);
    expect(res.body.outputs).toEqual(json.body.outputs);

    // BYTES in binary: each element a 4-byte little-endian length, then its UTF-8 bytes.
    const elements = reviews.data.map((s) => {
      const b = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      return Buffer.concat([len, b]);
    });
    const strings = Buffer.concat(elements);
    const m = writeMessage({ inputs: [{ name: reviews.name, datatype: 'BYTES', shape: reviews.shape, parameters: { binary_data_size: strings.length } }] }, [strings]);
    const textJson = await request(ctx.app).post('/v2/models/sentiment/infer').send({ inputs: [reviews] });
    const textBinary = await request(ctx.app)
      .post('/v2/models/sentiment/infer')
      .set('Inference-Header-Content-Length', String(m.headerLength))
      .set('Content-Type', 'application/octet-stream')
      .send(m.body);
    expect(textBinary.status).toBe(200);
    expect(textBinary.body.outputs).toEqual(textJson.body.outputs);
  });
});

describe('bad input gets a 4xx with {"error"}, and the server keeps serving', () => {
  const infer = (name: string, body: unknown) => request(ctx.app).post(`/v2/models/${name}/infer`).send(body as object);
  const one = (name: string, n = 1) => sampleInputs(name, n);

  it.each([
    ['a wrong datatype', 'malaria', () => [{ ...one('malaria')[0], datatype: 'FP32' }], /is UINT8, not FP32/],
    ['a datatype the protocol has but this server does not convert', 'regression', () => [{ ...one('regression')[0], datatype: 'FP16' }], /datatype "FP16"/],
    ['BOOL where FP32 is declared', 'regression', () => [{ name: 'x', datatype: 'BOOL', shape: [1, 1], data: [true] }], /is FP32, not BOOL/],
    ['shape and data that disagree', 'regression', () => [{ name: 'x', datatype: 'FP32', shape: [2, 1], data: [1, 2, 3] }], /2 elements\) but 3 data elements/],
    ['a shape without the batch dimension', 'regression', () => [{ name: 'x', datatype: 'FP32', shape: [1], data: [1] }], /must have shape \[-1, 1\]/],
    ['a fixed dimension of the wrong size', 'regression', () => [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [1, 2] }], /must have shape/],
    ['a negative dimension', 'regression', () => [{ name: 'x', datatype: 'FP32', shape: [-1, 1], data: [1] }], /whole numbers/],
    ['a string in FP32 data', 'regression', () => [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: ['5'] }], /not a number/],
    ['256 in UINT8 data', 'malaria', () => [{ ...one('malaria')[0], data: (one('malaria')[0]?.data as number[]).map(() => 256) }], /0 to 255/],
    ['a number in BYTES data', 'sentiment', () => [{ name: 'review', datatype: 'BYTES', shape: [1, 1], data: [5] }], /not a string/],
    ['an unknown input', 'regression', () => [...one('regression'), { name: 'z', datatype: 'FP32', shape: [1, 1], data: [1] }], /no input "z"/],
    ['a missing input', 'regression', () => [{ name: 'z', datatype: 'FP32', shape: [1, 1], data: [1] }], /no input "z"/],
    ['the same input twice', 'regression', () => [...one('regression'), ...one('regression')], /given twice/],
    ['no data', 'regression', () => [{ name: 'x', datatype: 'FP32', shape: [1, 1] }], /"data"/],
  ])('answers 400 for %s', async (_what, name, inputs, pattern) => {
    expectError(await infer(name as string, { inputs: (inputs as () => unknown[])() }), 400, pattern as RegExp);
  });

  it('answers 400 for a batch larger than max_batch_size', async () => {
    const max = readModelConfig(MODELS_DIR, 'regression').maxBatchSize;
    expect(max).toBeGreaterThan(0);
    expectError(await infer('regression', { inputs: one('regression', max + 1) }), 400, /max_batch_size/);
    expect((await infer('regression', { inputs: one('regression', max) })).status).toBe(200);
  });

  it('answers 400 for an unknown requested output, a non-string id, no inputs, and a body that is not an object', async () => {
    expectError(await infer('regression', { inputs: one('regression'), outputs: [{ name: 'nope' }] }), 400, /no output "nope"/);
    expectError(await infer('regression', { inputs: one('regression'), id: 5 }), 400, /"id"/);
    expectError(await infer('regression', { inputs: [] }), 400, /inputs/);
    expectError(await infer('regression', [1, 2]), 400, /JSON object/);
  });

  it('answers 400 for broken JSON and for a header length beyond the body', async () => {
    expectError(await request(ctx.app).post('/v2/models/regression/infer').set('Content-Type', 'application/json').send('{"inputs": ['), 400, /not valid JSON/);
    const res = await request(ctx.app).post('/v2/models/regression/infer').set('Inference-Header-Content-Length', '9999').send({ inputs: one('regression') });
    expectError(res, 400, /Inference-Header-Content-Length/);
  });

  it('answers 400 when binary_data_size and the bytes disagree', async () => {
    const input = one('malaria')[0] as { name: string; shape: number[] };
    const short = Buffer.alloc(10);
    const m = writeMessage({ inputs: [{ name: input.name, datatype: 'UINT8', shape: input.shape, parameters: { binary_data_size: 10 } }] }, [short]);
    const res = await request(ctx.app).post('/v2/models/malaria/infer').set('Inference-Header-Content-Length', String(m.headerLength)).send(m.body);
    expectError(res, 400, /binary_data_size is 10 bytes/);
    const extra = writeMessage({ inputs: one('regression') }, [Buffer.alloc(3)]);
    const res2 = await request(ctx.app).post('/v2/models/regression/infer').set('Inference-Header-Content-Length', String(extra.headerLength)).send(extra.body);
    expectError(res2, 400, /no tensor claims/);
  });

  it('answers 413 for a 100 MB body as soon as it is announced, without reading it, and stays up', async () => {
    const listening = await listen(ctx.app);
    try {
      const total = 100 * 1024 * 1024;
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      const answer = await new Promise<{ status: number; body: string; sentBytes: number }>((resolve, reject) => {
        let sent = 0;
        const req = http.request(`${listening.url}/v2/models/malaria/infer`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': total } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, sentBytes: sent }));
        });
        req.on('error', reject);
        const pump = (): void => {
          while (sent < total) {
            sent += chunk.length;
            if (!req.write(chunk)) {
              req.once('drain', pump);
              return;
            }
          }
          req.end();
        };
        pump();
      });
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body).error).toMatch(/larger than this server's limit/);
      expect(answer.sentBytes).toBeLessThan(total);
      // Streamed without a length (chunked): refused once the limit is passed.
      const small = await buildModelServer({ env: { MODEL_MAX_BODY_MB: '0.01' } });
      const smallServer = await listen(small.app);
      const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(`${smallServer.url}/v2/models/regression/infer`, { method: 'POST' }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        for (let i = 0; i < 20; i++) req.write('x'.repeat(1000));
        req.end();
      });
      expect(chunked.status).toBe(413);
      expect(JSON.parse(chunked.body).error).toMatch(/limit/);
      await smallServer.close();
      await small.store.close();
      expect((await fetch(`${listening.url}/v2/health/live`)).status).toBe(200);
    } finally {
      await listening.close();
    }
  });

  it('answers 415 for a compressed body', async () => {
    expectError(await request(ctx.app).post('/v2/models/regression/infer').set('Content-Encoding', 'gzip').send('x'), 415, /Content-Encoding/);
  });

  it('is still serving after all of the above', async () => {
    expect((await infer('regression', { inputs: one('regression') })).status).toBe(200);
    expect(ctx.errors).toHaveLength(0);
  });
});

describe('with INFERENCE_TOKEN set', () => {
  let secured: Awaited<ReturnType<typeof buildModelServer>>;
  beforeAll(async () => {
    secured = await buildModelServer({ env: { INFERENCE_TOKEN: 's3cret' } });
  });
  afterAll(() => secured.store.close());

  it('answers 401 {"error"} with WWW-Authenticate to a missing or wrong token, on every endpoint but health', async () => {
    for (const auth of [undefined, 'Bearer wrong', 's3cret', 'Bearer s3cret2']) {
      for (const path of ['/v2', '/v2/models/regression', '/v2/models/regression/ready']) {
        const req = request(secured.app).get(path);
        const res = await (auth === undefined ? req : req.set('Authorization', auth));
        expectError(res, 401, /Bearer/);
        expect(res.headers['www-authenticate']).toBe('Bearer');
      }
      const infer = request(secured.app).post('/v2/models/regression/infer');
      expectError(await (auth === undefined ? infer : infer.set('Authorization', auth)).send({ inputs: sampleInputs('regression', 1) }), 401);
    }
    expect((await request(secured.app).get('/v2/health/live')).status).toBe(200);
    expect((await request(secured.app).get('/v2/health/ready')).status).toBe(200);
  });

  it('answers the right token', async () => {
    const res = await request(secured.app).post('/v2/models/regression/infer').set('Authorization', 'Bearer s3cret').send({ inputs: sampleInputs('regression', 1) });
    expect(res.status).toBe(200);
  });
});

describe('when inference fails', () => {
  /** The real models, but infer() rejects as told. */
  const failing = (err: unknown): (() => Promise<InferenceBackend>) => async () => {
    const real = new OnnxBackend();
    return { description: 'failing', load: (m) => real.load(m), close: () => real.close(), infer: async (): Promise<NamedTensors> => Promise.reject(err) };
  };

  it('answers 503 with Retry-After when the queue is full (overloaded)', async () => {
    const s = await buildModelServer({ createBackend: failing(unavailable('overloaded', 'The server is busy with other predictions.', 1)) });
    const res = await request(s.app).post('/v2/models/regression/infer').send({ inputs: sampleInputs('regression', 1) });
    expectError(res, 503, /busy/);
    expect(res.headers['retry-after']).toBe('1');
    await s.store.close();
  });

  it('answers 500 {"error"} without the cause, logs it, and keeps serving', async () => {
    const s = await buildModelServer({ createBackend: failing(new Error('secret internal detail')) });
    const res = await request(s.app).post('/v2/models/regression/infer').send({ inputs: sampleInputs('regression', 1) });
    expectError(res, 500, /internal error/);
    expect(res.text).not.toContain('secret');
    expect(s.errors).toHaveLength(1);
    expect((await request(s.app).get('/v2/health/ready')).status).toBe(200);
    await s.store.close();
  });
});

describe('repository extension', () => {
  it('POST /v2/repository/index lists every model with its served version, READY', async () => {
    const res = await request(ctx.app).post('/v2/repository/index').send({});
    expect(res.status).toBe(200);
    expect(res.body).toEqual(MODELS.map((name) => ({ name, version: servedVersion(name), state: 'READY', reason: '' })));
  });

  it('POST /v2/repository/models/{name}/load reloads (200, empty body); an unknown model is 400 {"error"}', async () => {
    const res = await request(ctx.app).post('/v2/repository/models/regression/load');
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    expectError(await request(ctx.app).post('/v2/repository/models/weather/load'), 400, /no model "weather"/);
    expectError(await request(ctx.app).post('/v2/repository/models/regression/unload'), 400, /not supported/);
  });
});
