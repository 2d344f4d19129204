/**
 * The real ONNX models, loaded by onnxruntime-node through the app's own predictors:
 * each loads and runs, and gives the known answer for inputs whose answer is not in doubt. The
 * classifiers' 8-bit versions (issue 28) are what their cards' `quantized` sections say, within
 * the bars, and the browser engine can download them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import request from 'supertest';
import sharp from 'sharp';
import { buildApp, cellImage, MODELS_DIR, realBackend } from '../helpers/app';
import { MODEL_NAMES, readCard } from '../../src/predictors/registry';

let ctx: Awaited<ReturnType<typeof buildApp>>;
beforeAll(async () => {
  ctx = await buildApp({ backend: realBackend() });
});
afterAll(async () => ctx.registry.close());

describe('model artifacts', () => {
  it.each(MODEL_NAMES)('%s: the card describes the committed model (sha256, size, Triton config)', (name) => {
    const card = readCard(MODELS_DIR, name);
    const onnx = fs.readFileSync(path.join(MODELS_DIR, name, card.version, 'model.onnx'));
    expect(card.artifact.file).toBe(`models/${name}/${card.version}/model.onnx`);
    expect(card.artifact.sha256).toBe(createHash('sha256').update(onnx).digest('hex'));
    expect(card.artifact.bytes).toBe(onnx.length);
    const pbtxt = fs.readFileSync(path.join(MODELS_DIR, name, 'config.pbtxt'), 'utf8');
    expect(pbtxt).toContain(`name: "${name}"`);
    expect(pbtxt).toContain('backend: "onnxruntime"');
    for (const t of [...card.inputs, ...card.outputs]) expect(pbtxt).toContain(`name: "${t.name}"`);
    expect(typeof (card.training as { command?: unknown }).command).toBe('string');
  });

  it('malaria and sentiment meet their accuracy and size targets, as measured in their cards', () => {
    const malaria = readCard(MODELS_DIR, 'malaria');
    const sentiment = readCard(MODELS_DIR, 'sentiment');
    expect(malaria.metrics.validation.accuracy).toBeGreaterThanOrEqual(0.965);
    expect(malaria.artifact.bytes).toBeLessThanOrEqual(1024 * 1024);
    expect(sentiment.metrics.validation.accuracy).toBeGreaterThanOrEqual(0.92);
    expect(sentiment.artifact.bytes).toBeLessThanOrEqual(10 * 1024 * 1024);
    expect((sentiment.memory as { session_rss_mb: number }).session_rss_mb).toBeLessThanOrEqual(40);
    for (const card of [malaria, sentiment]) expect((card.calibration as { ece: number }).ece).toBeLessThanOrEqual(0.02);
  });
});

describe('the 8-bit versions (the cards\' quantized sections)', () => {
  interface Quantized {
    version: string;
    of_version: string;
    artifact: { file: string; bytes: number; sha256: string; share_of_float: number };
    validation: { accuracy: number; accuracy_float: number; same_label_as_float: number; ece: number };
    command: string;
  }
  const quantized = (name: string): Quantized => (readCard(MODELS_DIR, name) as { quantized?: Quantized }).quantized as Quantized;

  it.each(['malaria', 'sentiment'])('%s: the committed file, at most 40 %% of the float one, within the bars, served for the browser', async (name) => {
    const card = readCard(MODELS_DIR, name);
    const q = quantized(name);
    expect(q.of_version).toBe(card.version);
    expect(Number(q.version)).toBeGreaterThan(Number(card.version));
    const onnx = fs.readFileSync(path.join(MODELS_DIR, name, q.version, 'model.onnx'));
    expect(q.artifact.file).toBe(`models/${name}/${q.version}/model.onnx`);
    expect(q.artifact.sha256).toBe(createHash('sha256').update(onnx).digest('hex'));
    expect(q.artifact.bytes).toBe(onnx.length);
    expect(onnx.length).toBeLessThanOrEqual(0.4 * card.artifact.bytes);
    expect(q.validation.accuracy_float).toBe(card.metrics.validation.accuracy);
    expect(Math.abs(q.validation.accuracy - q.validation.accuracy_float) * 100).toBeLessThanOrEqual(0.3);
    expect(q.validation.same_label_as_float).toBeGreaterThanOrEqual(0.99);
    expect(q.validation.ece).toBeLessThanOrEqual(0.02);
    expect(q.command).toContain(`npm run train -- ${name}`);
    const res = await request(ctx.app).get(`/models/${name}/${q.version}/model.onnx`).set('Accept-Encoding', 'identity').buffer(true).parse((r, done) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => done(null, Buffer.concat(chunks)));
    });
    expect(res.status).toBe(200);
    expect(createHash('sha256').update(res.body as Buffer).digest('hex')).toBe(q.artifact.sha256);
  });
});

describe('known answers', () => {
  it('regression: the value for x = 5 is the fitted line at 5', async () => {
    const card = readCard(MODELS_DIR, 'regression');
    const res = await request(ctx.app).post('/api/predict/regression').send({ x: 5 });
    expect(res.status).toBe(200);
    expect(res.body.value).toBeCloseTo((card.fitted?.slope as number) * 5 + (card.fitted?.intercept as number), 3);
    expect(res.body.value).toBeGreaterThan(17);
    expect(res.body.value).toBeLessThan(20);
  });

  it.each([
    ['positive', 'One of the best films I have seen in years. Brilliant acting, a wonderful story, and a beautiful score. I loved every minute of it.'],
    ['negative', 'A total waste of time. The plot is boring and stupid, the acting is awful, and the ending is the worst I have ever seen. Avoid it.'],
    ['positive', 'An absolute masterpiece: moving, funny and superbly directed. Highly recommended!'],
    ['negative', 'Terrible. Dull, badly written and poorly acted; I want my two hours back.'],
  ])('sentiment: a clearly %s review', async (label, review) => {
    const res = await request(ctx.app).post('/api/predict/sentiment').send({ review });
    expect(res.status).toBe(200);
    expect(res.body.label).toBe(label);
    expect(res.body.confidence).toBeGreaterThan(0.8);
  });

  it('sentiment: non-ASCII upper case is lower-cased in the graph too', async () => {
    const plain = await request(ctx.app).post('/api/predict/sentiment').send({ review: 'un film génial, déjà culte. café crème' });
    const shouted = await request(ctx.app).post('/api/predict/sentiment').send({ review: 'UN FILM GÉNIAL, DÉJÀ CULTE. CAFÉ CRÈME' });
    expect(shouted.status).toBe(200);
    expect(shouted.body.scores.positive).toBe(plain.body.scores.positive);
  });

  it.each(['malaria', 'sentiment'] as const)('%s: no confidence above the cap the card says the validation data support', async (name) => {
    const card = readCard(MODELS_DIR, name);
    const cap = (card.calibration as { confidence_cap: { cap: number | null } }).confidence_cap.cap ?? 1;
    const res =
      name === 'malaria'
        ? await request(ctx.app).post('/api/predict/malaria').attach('image', await cellImage('png', { parasite: true }), 'p.png')
        : await request(ctx.app)
            .post('/api/predict/sentiment')
            .send({ review: 'A masterpiece. Brilliant, wonderful, superb, perfect, beautiful, moving, the best film of the decade; 10/10.' });
    expect(res.status).toBe(200);
    expect(res.body.confidence).toBeLessThanOrEqual(cap);
  });

  it('sentiment: upper case does not change the answer (lower-casing is in the graph)', async () => {
    const plain = await request(ctx.app).post('/api/predict/sentiment').send({ review: 'a wonderful film. i loved it' });
    const shouted = await request(ctx.app).post('/api/predict/sentiment').send({ review: 'A WONDERFUL Film. I LOVED IT' });
    expect(shouted.body.scores.positive).toBe(plain.body.scores.positive);
  });

  it('sentiment: a trailing <br /> tag is not a word (the graph drops it)', async () => {
    const plain = await request(ctx.app).post('/api/predict/sentiment').send({ review: 'a dull and boring film' });
    const tagged = await request(ctx.app).post('/api/predict/sentiment').send({ review: 'a dull and boring film<br /><br />' });
    expect(tagged.body.scores.negative).toBe(plain.body.scores.negative);
  });

  it('malaria: the graph takes any height and width (the resize is inside it)', async () => {
    const shapes = [
      [1, 1],
      [600, 7],
      [7, 600],
      [45, 300],
      [2000, 1500],
    ];
    for (const [width, height] of shapes) {
      const png = await sharp({ create: { width: width as number, height: height as number, channels: 3, background: '#d9a3b0' } }).png().toBuffer();
      const res = await request(ctx.app).post('/api/predict/malaria').attach('image', png, 'odd.png');
      expect(res.status).toBe(200);
      expect(res.body.scores.parasitized + res.body.scores.uninfected).toBeCloseTo(1, 6);
    }
  });

  it('malaria: the same cell at 64, 128 and 512 pixels gets the same answer', async () => {
    for (const parasite of [false, true]) {
      const labels = new Set<string>();
      for (const size of [64, 128, 512]) {
        const res = await request(ctx.app).post('/api/predict/malaria').attach('image', await cellImage('png', { size, parasite }), 'c.png');
        labels.add(res.body.label);
      }
      expect([...labels]).toEqual([parasite ? 'parasitized' : 'uninfected']);
    }
  });

  it('malaria: a synthetic cell with a dark-stained parasite ring is parasitized, a clean one uninfected', async () => {
    const infected = await request(ctx.app).post('/api/predict/malaria').attach('image', await cellImage('png', { parasite: true }), 'p.png');
    const clean = await request(ctx.app).post('/api/predict/malaria').attach('image', await cellImage('png'), 'u.png');
    expect(infected.status).toBe(200);
    expect(clean.status).toBe(200);
    expect(infected.body.label).toBe('parasitized');
    expect(clean.body.label).toBe('uninfected');
  });
});
