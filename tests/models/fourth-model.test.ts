/**
 * Issue 23, must-hold 2: a fourth model, added by a test and nowhere else, is served by the page
 * form, the JSON API, the OpenAPI document, the CLI and the model tier. The model is the fixture
 * "sign" (tests/fixtures/models/sign/: its definition, predictor, card partials and artifacts, an
 * ONNX graph built by tests/helpers/onnx-graph.ts); it runs in the real onnxruntime, from a models
 * folder of this test's own holding it beside copies of the three real models. The app, the CLI
 * and the model tier are given the table [...MODELS, sign] and nothing else.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import request from 'supertest';
import { createApp } from '../../app';
import { predictCommand } from '../../src/cli/predict';
import { type Config, loadConfig } from '../../src/config';
import type { InferenceBackend } from '../../src/inference/backend';
import { OnnxBackend } from '../../src/inference/onnx';
import { RemoteBackend } from '../../src/inference/remote';
import { MODELS } from '../../src/models';
import type { ModelDefinition } from '../../src/models/model';
import { createModelServer } from '../../src/oip/server';
import { ModelStore } from '../../src/oip/store';
import { Registry } from '../../src/predictors/registry';
import type { ModelCard } from '../../src/predictors/types';
import { sign } from '../fixtures/models/sign';
import { writeSignModel } from '../fixtures/models/sign/artifacts';
import { signOnnx } from '../fixtures/models/sign/predictor';
import { MODELS_DIR } from '../helpers/app';
import { csvRows } from '../helpers/cli';
import { type Listening, listen } from '../helpers/oip';
import * as ort from 'onnxruntime-node';

jest.setTimeout(60_000);

const table: readonly ModelDefinition[] = [...MODELS, sign as ModelDefinition];
const closers: (() => Promise<unknown>)[] = [];
let modelsDir: string;
let config: Config;
let card: ModelCard;

/** The app over `backend`, serving `table` from this test's models folder. */
async function appOver(backend: InferenceBackend) {
  const registry = new Registry(backend, modelsDir, { maxPixels: config.maxImagePixels }, { table });
  closers.push(() => registry.close());
  await registry.load();
  return createApp({ config, registry });
}

/** The sign card's HTML on the page, from its <section> to the section's end. */
function signSection(html: string): string {
  const at = html.indexOf('id="sign"');
  expect(at).toBeGreaterThan(-1);
  return html.slice(html.lastIndexOf('<section', at), html.indexOf('</section>', at));
}

beforeAll(async () => {
  modelsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-fourth-'));
  for (const m of MODELS) fs.cpSync(path.join(MODELS_DIR, m.name), path.join(modelsDir, m.name), { recursive: true });
  card = await writeSignModel(modelsDir);
  config = loadConfig({ NODE_ENV: 'test', MODELS_DIR: modelsDir });
});

afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  fs.rmSync(modelsDir, { recursive: true, force: true });
});

describe('the fixture model "sign" (tests/helpers/onnx-graph.ts)', () => {
  it('is an ONNX graph onnxruntime loads: x [N, 1] → probabilities [N, 2], the softmax of [-4x, 4x]', async () => {
    const session = await ort.InferenceSession.create(signOnnx());
    expect(session.inputNames).toEqual(['x']);
    expect(session.outputNames).toEqual(['probabilities']);
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.of(0.5, -2), [2, 1]) });
    expect(out.probabilities?.dims).toEqual([2, 2]);
    const p = Array.from(out.probabilities?.data as Float32Array);
    const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));
    [1 - sigmoid(4), sigmoid(4), 1 - sigmoid(-16), sigmoid(-16)].forEach((want, i) =>
      expect(p[i]).toBeCloseTo(want, 6),
    );
    await session.release();
  });

  it('has a card with the real size and sha256 of its file, and an accuracy measured on 200 numbers', () => {
    const bytes = fs.readFileSync(path.join(modelsDir, 'sign', '1', 'model.onnx'));
    expect(card.artifact.bytes).toBe(bytes.length);
    expect(card.metrics.validation).toEqual({ accuracy: 1, n: 200 });
  });
});

describe('the page', () => {
  let app: ReturnType<typeof createApp>;
  beforeAll(async () => {
    app = await appOver(new OnnxBackend());
  });

  it('GET / draws the sign form beside the three real ones', async () => {
    const res = await request(app).get('/');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    for (const m of table) expect(res.text).toContain(`action="/predict/${m.name}"`);
    expect(signSection(res.text)).toMatch(/<input id="sign-x" name="x"/);
    // Its link in the navigation (page.nav) and its part of "Use the API" (page.apiPartial).
    expect(res.text).toMatch(/href="#sign"[^>]*>Sign</);
    expect(res.text).toContain('/api/predict/sign -H');
    // Its measured quality, from its card, in its own words (about.items).
    expect(signSection(res.text)).toContain('100.0 % accuracy on 200 held-out numbers');
  });

  it.each([
    ['3', 'positive'],
    ['-2', 'negative'],
  ])('POST /predict/sign x=%s → 200, the page with "%s" in the sign card', async (x, label) => {
    const res = await request(app).post('/predict/sign').type('form').send({ x });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const section = signSection(res.text);
    expect(section).toMatch(new RegExp(`<p class="prediction">This number is ${label} \\(`));
    expect(section).toContain(`value="${x}"`);
  });

  it('POST /predict/sign x=abc → 400, the message beside the sign form and the input kept', async () => {
    const res = await request(app).post('/predict/sign').type('form').send({ x: 'abc' });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const form = signSection(res.text);
    expect(form).toMatch(
      /<p class="error" id="sign-error" role="alert">(&#34;|")x(&#34;|") must be a number, like 3 or -2.5.<\/p>/,
    );
    expect(form).toContain('value="abc"');
    expect(form).not.toContain('class="prediction"');
  });
});

describe('the JSON API and its OpenAPI document', () => {
  let app: ReturnType<typeof createApp>;
  beforeAll(async () => {
    app = await appOver(new OnnxBackend());
  });

  it('POST /api/predict/sign {"x": 2} → 200, positive with its confidence and scores (the answer sign-api.ejs shows)', async () => {
    const res = await request(app).post('/api/predict/sign').send({ x: 2 });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toMatchObject({
      model: 'sign',
      version: '1',
      label: 'positive',
      confidence: 0.9999,
      scores: { negative: 0.0001, positive: 0.9999 },
      statement: 'This number is positive (> 99.9 % confidence).',
    });
    expect(Object.keys(res.body.scores)).toEqual(['negative', 'positive']);
  });

  it('POST /api/predict/sign {"x": -0.5} → negative, 98.2 % confidence (softmax of [2, -2])', async () => {
    const res = await request(app).post('/api/predict/sign').send({ x: -0.5 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      label: 'negative',
      confidence: 0.982,
      statement: 'This number is negative (98.2 % confidence).',
    });
  });

  it.each([
    [{ x: 'abc' }, 'invalid_x'],
    [{}, 'missing_x'],
  ])('POST /api/predict/sign %j → 400 %s', async (body, code) => {
    const res = await request(app).post('/api/predict/sign').send(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(code);
  });

  it('GET /api/models lists the sign card after the three real ones', async () => {
    const res = await request(app).get('/api/models');
    expect(res.status).toBe(200);
    expect(res.body.models.map((m: { name: string }) => m.name)).toEqual(table.map((m) => m.name));
  });

  it('GET /openapi.json documents POST /api/predict/sign and names "sign" among the classifiers', async () => {
    const res = await request(app).get('/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body as {
      paths: Record<string, Record<string, { operationId?: string }>>;
      components: { schemas: Record<string, { properties: Record<string, { enum?: string[] }> }> };
    };
    expect(doc.paths['/api/predict/sign']?.post?.operationId).toBe('predictSign');
    const classifiers = table.filter((m) => m.output.kind === 'classification').map((m) => m.name);
    expect([...(doc.components.schemas.ClassificationPrediction?.properties.model?.enum ?? [])].sort()).toEqual(
      [...classifiers].sort(),
    );
    expect(classifiers).toContain('sign');
  });
});

describe('the CLI: ml-forms predict sign', () => {
  let dir: string;
  let input: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-fourth-cli-'));
    closers.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    input = path.join(dir, 'numbers.csv');
    fs.writeFileSync(input, 'id,x\na,3\nb,-2\nc,0.5\nd,abc\n');
  });

  /** The command's exit code and the rows of its --out file; the column "x" is the model's field by default. */
  async function run(out: string, url?: string): Promise<{ code: number; rows: string[][] }> {
    const io = {
      stdout: new PassThrough() as unknown as NodeJS.WriteStream,
      stderr: new PassThrough() as unknown as NodeJS.WriteStream,
      progressIntervalMs: 1000,
    };
    const options = {
      model: 'sign',
      inputs: [input],
      out,
      idField: 'id',
      url,
      concurrency: 1,
      resume: false,
      quiet: true,
    };
    const code = await predictCommand(options, config, io, table);
    return { code, rows: csvRows(fs.readFileSync(out, 'utf8')) };
  }

  it.each([['in process'], ['--url, against the app serving the table']])(
    '%s: one CSV row per input with its label, an error row for a word',
    async (how) => {
      let url: string | undefined;
      if (how.startsWith('--url')) {
        const listening = await listen(await appOver(new OnnxBackend()));
        closers.push(() => listening.close());
        url = listening.url;
      }
      const { code, rows } = await run(path.join(dir, `signs-${url === undefined ? 'local' : 'url'}.csv`), url);
      expect(rows[0]).toEqual(['input', 'label', 'confidence', 'score_negative', 'score_positive', 'error']);
      expect(rows.slice(1).map((r) => [r[0], r[1]])).toEqual([
        ['a', 'positive'],
        ['b', 'negative'],
        ['c', 'positive'],
        ['d', ''],
      ]);
      expect(rows[3]?.[2]).toBe('0.982');
      expect(rows[4]?.[5]).toMatch(/^invalid_x: /);
      expect(code).toBe(1);
    },
  );
});

describe('the model tier (ROLE=models) and the web tier through it', () => {
  let tier: ReturnType<typeof createModelServer>;
  let listening: Listening;
  /** Inferences of "sign" the model tier ran. */
  let tierRuns = 0;
  beforeAll(async () => {
    const store = new ModelStore({
      repo: modelsDir,
      createBackend: async () => {
        const backend = new OnnxBackend();
        const infer = backend.infer.bind(backend);
        backend.infer = (model, inputs, options) => {
          if (model === 'sign') tierRuns++;
          return infer(model, inputs, options);
        };
        return backend;
      },
    });
    closers.push(() => store.close());
    await store.reload();
    tier = createModelServer({ config, store, table });
    listening = await listen(tier);
    closers.push(() => listening.close());
  });

  it('GET /v2/models/sign → its metadata, from its config.pbtxt', async () => {
    const res = await request(tier).get('/v2/models/sign');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      name: 'sign',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 1] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 2] }],
    });
  });

  it('POST /v2/models/sign/infer with x = [2, -1] → the probabilities of each', async () => {
    const before = tierRuns;
    const res = await request(tier)
      .post('/v2/models/sign/infer')
      .send({ inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 1], data: [2, -1] }] });
    expect(res.status).toBe(200);
    expect(res.body.model_name).toBe('sign');
    const out = (res.body.outputs as { name: string; shape: number[]; data: number[] }[]).find(
      (o) => o.name === 'probabilities',
    );
    expect(out?.shape).toEqual([2, 2]);
    const p = out?.data ?? [];
    expect(p[1]).toBeGreaterThan(0.999);
    expect(p[2]).toBeGreaterThan(0.999);
    expect(tierRuns).toBe(before + 1);
  });

  it("GET /openapi.json (the tier's) shows the sign model's example request", async () => {
    const res = await request(tier).get('/openapi.json');
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.body)).toContain('sign: x = 2 and x = -1');
  });

  describe('the web tier with INFERENCE_URL = this tier', () => {
    let app: ReturnType<typeof createApp>;
    beforeAll(async () => {
      app = await appOver(new RemoteBackend({ url: listening.url, timeoutMs: 10_000, retries: 2 }));
    });

    it('POST /api/predict/sign {"x": -3} → negative, computed by the tier', async () => {
      const before = tierRuns;
      const res = await request(app).post('/api/predict/sign').send({ x: -3 });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ model: 'sign', version: '1', label: 'negative' });
      expect(tierRuns).toBe(before + 1);
    });

    it('POST /predict/sign x=4 → the page with "positive", computed by the tier', async () => {
      const before = tierRuns;
      const res = await request(app).post('/predict/sign').type('form').send({ x: '4' });
      expect(res.status).toBe(200);
      expect(signSection(res.text)).toMatch(/<p class="prediction">This number is positive \(/);
      expect(tierRuns).toBe(before + 1);
    });
  });
});
