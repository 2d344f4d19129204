/**
 * The model tier's `explanation` output (issue 25): asked for by name, a BYTES tensor holding one
 * JSON string per item, equal to the JSON API's `explanation` for the same input; the graph
 * tensors it is made from can be asked for too; not asked for, nothing changes. And the app
 * behind a model tier (RemoteBackend) explains exactly as in process.
 */
import request from 'supertest';
import { OnnxBackend } from '../../src/inference/onnx';
import { Registry } from '../../src/predictors/registry';
import { loadConfig } from '../../src/config';
import { MODELS_DIR } from '../helpers/app';
import { buildModelServer, listen } from '../helpers/oip';
import { RemoteBackend } from '../../src/inference/remote';
import type { Predictor } from '../../src/predictors/types';

const REVIEWS = ['A warm, funny film. I loved it.', 'Dull, dull, dull. The plot makes no sense and the acting is wooden.'];

let tier: Awaited<ReturnType<typeof buildModelServer>>;
let local: Registry;
beforeAll(async () => {
  tier = await buildModelServer();
  const config = loadConfig({ NODE_ENV: 'test' });
  local = new Registry(new OnnxBackend(), MODELS_DIR, { maxPixels: config.maxImagePixels }, { models: ['sentiment'] });
  await local.load();
});
afterAll(async () => {
  await tier.store.close();
  await local.close();
});

const body = (outputs?: string[]) => ({
  inputs: [{ name: 'review', datatype: 'BYTES', shape: [REVIEWS.length, 1], data: REVIEWS }],
  ...(outputs === undefined ? {} : { outputs: outputs.map((name) => ({ name })) }),
});

describe('POST /v2/models/sentiment/infer', () => {
  it('answers "explanation" as one JSON string per item, equal to the API\'s explanation', async () => {
    const res = await request(tier.app).post('/v2/models/sentiment/infer').send(body(['probabilities', 'explanation']));
    expect(res.status).toBe(200);
    const out = res.body.outputs as { name: string; datatype: string; shape: number[]; data: unknown[] }[];
    expect(out.map((o) => o.name)).toEqual(['probabilities', 'explanation']);
    const explanation = out[1] as { datatype: string; shape: number[]; data: string[] };
    expect(explanation.datatype).toBe('BYTES');
    expect(explanation.shape).toEqual([2]);
    const predictor = local.get('sentiment') as Predictor<string>;
    for (const [i, review] of REVIEWS.entries()) {
      const api = await predictor.predict(review, { explain: true });
      expect(JSON.parse(explanation.data[i] as string)).toEqual(api.explanation);
    }
  });

  it('answers the graph tensors an explanation is made from when asked for by name', async () => {
    const res = await request(tier.app).post('/v2/models/sentiment/infer').send(body(['contribution_bias', 'contributions']));
    expect(res.status).toBe(200);
    const [bias, contributions] = res.body.outputs as { name: string; shape: number[] }[];
    expect(bias?.shape).toEqual([2]);
    expect(contributions?.shape.slice(0, 2)).toEqual([2, 3]);
  });

  it('answers only the configured outputs when none are named, and refuses an unknown one', async () => {
    const plain = await request(tier.app).post('/v2/models/sentiment/infer').send(body());
    expect(plain.status).toBe(200);
    expect((plain.body.outputs as { name: string }[]).map((o) => o.name)).toEqual(['probabilities']);
    const unknown = await request(tier.app).post('/v2/models/sentiment/infer').send(body(['why']));
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatch(/no output "why".*explanation/);
  });
});

describe('the app behind a model tier', () => {
  it('explains a review exactly as in process', async () => {
    const listening = await listen(tier.app);
    const config = loadConfig({ NODE_ENV: 'test' });
    const remote = new Registry(new RemoteBackend({ url: listening.url, timeoutMs: 10_000, retries: 0 }), MODELS_DIR, { maxPixels: config.maxImagePixels }, { models: ['sentiment'] });
    try {
      await remote.load();
      for (const review of REVIEWS) {
        const there = await (remote.get('sentiment') as Predictor<string>).predict(review, { explain: true });
        const here = await (local.get('sentiment') as Predictor<string>).predict(review, { explain: true });
        expect(there).toEqual(here);
      }
    } finally {
      await remote.close();
      await listening.close();
    }
  });
});
