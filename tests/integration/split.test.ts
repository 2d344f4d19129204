/**
 * The split deployment as two real processes: a model tier (`ROLE=models`, the worker pool) and a
 * web tier (`INFERENCE_URL` pointing at it), both `server.ts`, on two ports, with a token between
 * them. The web tier keeps the HTTP contract and gives exactly the in-process predictions; a new
 * model version is picked up on SIGHUP without a failed request; and when the model tier is killed
 * under load every request gets 503 with Retry-After (the goal: within 1 s), /readyz says 503, and
 * the web tier recovers by itself (the goal: within 5 s of the model tier being back). The test
 * prints both times; its bounds are loose so that a loaded machine cannot make it flake.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { defaultVersion, readModelConfig, readVersionCard, servedVersions, versionsOnDisk } from '../../src/oip/repository';
import { MODELS_DIR, buildApp, cellImage, realBackend } from '../helpers/app';
import { type ServerProcess, startServer } from '../helpers/server-process';
import { sleep } from '../helpers/async';

jest.setTimeout(120_000);

const TOKEN = 'between-the-tiers';
const REVIEWS = [
  'A warm, funny and beautifully acted film. I loved every minute of it.',
  'Dull, badly written and far too long. The worst film I have seen this year.',
  'The photography is gorgeous, but the script drags and the ending falls flat.',
];

let repo: string;
let tier: ServerProcess;
let web: ServerProcess;
const startTier = (port = '0'): Promise<ServerProcess> =>
  startServer({ ROLE: 'models', PORT: port, INFERENCE_TOKEN: TOKEN, MODELS_DIR: repo, INFERENCE_WORKERS: '2' }, 30_000, '/v2/health/ready');

beforeAll(async () => {
  repo = fs.mkdtempSync(path.join(os.tmpdir(), 'models-'));
  fs.cpSync(MODELS_DIR, repo, { recursive: true });
  tier = await startTier();
  web = await startServer({ INFERENCE_URL: tier.url, INFERENCE_TOKEN: TOKEN });
});

afterAll(async () => {
  web.child.kill('SIGTERM');
  tier.child.kill('SIGTERM');
  const [w, t] = await Promise.all([web.exited, tier.exited]);
  fs.rmSync(repo, { recursive: true, force: true });
  expect(w.code).toBe(0);
  expect(t.code).toBe(0);
});

const upload = async (image: Buffer, url: string, api = true): Promise<Response> => {
  const body = new FormData();
  body.append('image', new Blob([image], { type: 'image/png' }), 'cell.png');
  return fetch(`${url}${api ? '/api' : ''}/predict/malaria`, { method: 'POST', body });
};
const json = (url: string, p: string, body: unknown): Promise<Response> =>
  fetch(`${url}${p}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

describe('web tier + model tier on two ports', () => {
  it('the model tier requires the token', async () => {
    expect((await fetch(`${tier.url}/v2/models/sentiment`)).status).toBe(401);
    expect((await fetch(`${tier.url}/v2/models/sentiment`, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  it('keeps the HTTP contract: the page, form posts, the JSON API, errors, health', async () => {
    const page = await fetch(`${web.url}/`);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toMatch(/<form[^>]*action="\/predict\/regression"/);
    expect(html).toMatch(/<form[^>]*action="\/predict\/malaria"[^>]*enctype="multipart\/form-data"/);
    expect(html).toMatch(/<textarea[^>]*name="review"/);

    const prediction = (h: string): string | undefined => /<p class="prediction">([^<]*)<\/p>/.exec(h)?.[1];
    const form = await fetch(`${web.url}/predict/regression`, { method: 'POST', body: new URLSearchParams({ x: '5' }) });
    expect(form.status).toBe(200);
    expect(prediction(await form.text())).toMatch(/^The predicted value for 5 is \d+\.\d\d\.$/);
    const cell = await upload(await cellImage('png', { parasite: true }), web.url, false);
    expect(prediction(await cell.text())).toMatch(/^This cell looks (parasitized|uninfected) \(\d+\.\d % confidence\)\.$/);
    const review = await fetch(`${web.url}/predict/sentiment`, { method: 'POST', body: new URLSearchParams({ review: REVIEWS[0] as string }) });
    expect(prediction(await review.text())).toMatch(/^This review is positive/);

    const models = (await (await fetch(`${web.url}/api/models`)).json()) as { models: { name: string; version: string }[] };
    for (const m of models.models) {
      // The version a request naming none gets: the newest with a card (an 8-bit version is served beside it, asked for by number).
      expect(m.version).toBe(defaultVersion(repo, m.name, servedVersions(readModelConfig(repo, m.name), versionsOnDisk(repo, m.name))));
    }
    const api = (await (await json(web.url, '/api/predict/sentiment', { review: REVIEWS[1] })).json()) as Record<string, unknown>;
    expect(api).toMatchObject({ model: 'sentiment', label: 'negative' });
    expect(Object.values(api.scores as Record<string, number>).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);

    for (const [res, status, code] of [
      [await json(web.url, '/api/predict/regression', {}), 400, 'missing_x'],
      [await json(web.url, '/api/predict/sentiment', { review: 'a'.repeat(20_001) }), 413, 'review_too_long'],
      [await upload(Buffer.from('not an image'), web.url), 415, 'unsupported_image_type'],
      [await fetch(`${web.url}/api/nothing`), 404, 'not_found'],
    ] as const) {
      expect(res.status).toBe(status);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    expect((await fetch(`${web.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${web.url}/readyz`)).status).toBe(200);
  });

  it('gives exactly the in-process predictions (value, label, confidence, scores, statement, version)', async () => {
    const local = await buildApp({ backend: realBackend() });
    try {
      const cases: [string, () => Promise<Response>, () => request.Test][] = [];
      for (const x of [-3.5, 0, 5, 12.25, 1e6]) {
        cases.push([`x=${x}`, () => json(web.url, '/api/predict/regression', { x }), () => request(local.app).post('/api/predict/regression').send({ x })]);
      }
      for (const review of REVIEWS) {
        cases.push([review, () => json(web.url, '/api/predict/sentiment', { review }), () => request(local.app).post('/api/predict/sentiment').send({ review })]);
      }
      for (const [i, image] of [await cellImage('png'), await cellImage('png', { parasite: true, size: 150 }), await cellImage('jpeg', { size: 90 })].entries()) {
        cases.push([`image ${i}`, () => upload(image, web.url), () => request(local.app).post('/api/predict/malaria').attach('image', image, 'cell.png')]);
      }
      for (const [what, split, inProcess] of cases) {
        const a = await split();
        const b = await inProcess();
        // The web tier keeps a prediction log (an id per answer); the in-process app here does not.
        const { id, ...body } = (await a.json()) as { id?: string };
        expect(id).toMatch(/^[0-9a-f-]{36}$/);
        expect({ what, status: a.status, body }).toEqual({ what, status: 200, body: b.body });
      }
    } finally {
      await local.registry.close();
    }
  });
});

describe('a new model version on the model tier', () => {
  it('is loaded on SIGHUP while predictions keep coming: none fails, and the web tier then answers with it', async () => {
    const onDisk = versionsOnDisk(repo, 'sentiment');
    const current = defaultVersion(repo, 'sentiment', servedVersions(readModelConfig(repo, 'sentiment'), onDisk)) as string;
    const next = String(Number(onDisk.at(-1)) + 1); // after the 8-bit version served beside the float one
    const card = readVersionCard(repo, 'sentiment', current);
    let stop = false;
    const outcomes: { status: number; version?: string }[] = [];
    const traffic = Array.from({ length: 6 }, async (_, i) => {
      while (!stop) {
        const res = await json(web.url, '/api/predict/sentiment', { review: REVIEWS[i % 3] });
        outcomes.push({ status: res.status, version: ((await res.json()) as { version?: string }).version });
      }
    });
    await sleep(300);
    fs.mkdirSync(path.join(repo, 'sentiment', next));
    fs.copyFileSync(path.join(repo, 'sentiment', current, 'model.onnx'), path.join(repo, 'sentiment', next, 'model.onnx'));
    fs.writeFileSync(path.join(repo, 'sentiment', next, 'card.json'), JSON.stringify({ ...card, version: next }));
    // The config names the versions to serve (as Triton's `specific` policy): the rollout adds it.
    const configFile = path.join(repo, 'sentiment', 'config.pbtxt');
    const config = fs.readFileSync(configFile, 'utf8');
    fs.writeFileSync(configFile, /version_policy: \{ specific/.test(config) ? config.replace(/versions: \[([^\]]*)\]/, `versions: [$1, ${next} ]`) : config);
    tier.child.kill('SIGHUP');
    for (let i = 0; i < 100 && !tier.logs.some((l) => /repository reloaded/.test(l)); i++) await sleep(50);
    await sleep(500);
    stop = true;
    await Promise.all(traffic);

    expect(tier.logs.join('\n')).toMatch(/repository reloaded/);
    expect(outcomes.filter((o) => o.status !== 200)).toEqual([]);
    expect(outcomes.at(-1)?.version).toBe(next);
    const models = (await (await fetch(`${web.url}/api/models`)).json()) as { models: { name: string; version: string }[] };
    expect(models.models.find((m) => m.name === 'sentiment')?.version).toBe(next);
  });
});

describe('when the model tier is killed under load', () => {
  it('answers every request 503 + Retry-After without hanging, /readyz 503, and recovers by itself once the tier is back', async () => {
    const image = await cellImage('png', { size: 120 });
    const port = new URL(tier.url).port;
    type Outcome = { start: number; end: number; status: number; retryAfter: string | null; text: string };
    const outcomes: Outcome[] = [];
    let stop = false;
    const traffic = Array.from({ length: 8 }, async (_, i) => {
      while (!stop) {
        const start = Date.now();
        const res = await (i % 2 === 0 ? upload(image, web.url) : json(web.url, '/api/predict/sentiment', { review: REVIEWS[i % 3] })).catch(() => null);
        outcomes.push({ start, end: Date.now(), status: res?.status ?? 0, retryAfter: res?.headers.get('retry-after') ?? null, text: res === null ? '' : await res.text() });
      }
    });
    // Load first (on a busy machine it takes a while to get going), then the kill.
    const waitFor = async (done: () => boolean, atLeastMs: number): Promise<void> => {
      const from = Date.now();
      while ((Date.now() - from < atLeastMs || !done()) && Date.now() - from < 15_000) await sleep(50);
    };
    await waitFor(() => outcomes.filter((o) => o.status === 200).length >= 10, 500);
    const killedAt = Date.now();
    tier.child.kill('SIGKILL');
    await tier.exited;
    await waitFor(() => outcomes.filter((o) => o.start > killedAt && o.status === 503).length >= 10, 1500);
    const readyz = await fetch(`${web.url}/readyz`);
    expect(readyz.status).toBe(503);
    expect(((await readyz.json()) as { status: string }).status).toBe('model_server_unavailable');
    const page = await fetch(`${web.url}/predict/sentiment`, { method: 'POST', body: new URLSearchParams({ review: 'good' }) });
    expect(page.status).toBe(503);
    expect(page.headers.get('retry-after')).not.toBeNull();
    expect(await page.text()).toMatch(/the model server is not answering/);

    tier = await startTier(port);
    const backAt = Date.now(); // /v2/health/ready answered 200
    let recoveredAt = 0;
    while (Date.now() - backAt < 10_000) {
      const last = outcomes.filter((o) => o.start > backAt).at(-1);
      if (last?.status === 200) {
        recoveredAt = last.end;
        break;
      }
      await sleep(50);
    }
    stop = true;
    await Promise.all(traffic);

    const before = outcomes.filter((o) => o.end < killedAt);
    const during = outcomes.filter((o) => o.end >= killedAt && o.start < backAt);
    expect(before.length).toBeGreaterThanOrEqual(10);
    expect(before.every((o) => o.status === 200)).toBe(true);
    // Only 200 (answered before the tier died) or 503 with Retry-After and the plain-words message.
    expect(during.filter((o) => o.status !== 200 && o.status !== 503)).toEqual([]);
    const failed = during.filter((o) => o.status === 503);
    expect(failed.length).toBeGreaterThanOrEqual(10);
    expect(failed.every((o) => o.retryAfter !== null && /model server/.test(o.text))).toBe(true);
    // The goals are 1 s to answer after the kill and 5 s to recover; this test only bounds them
    // loosely (a test must not flake on a loaded machine) and prints what it saw: the measured
    // numbers come from an idle run and are in the README.
    expect(Math.max(...during.map((o) => o.end - Math.max(o.start, killedAt)))).toBeLessThan(3000);
    process.stderr.write(`split kill test: ${during.length} answers while down, slowest ${Math.max(...during.map((o) => o.end - Math.max(o.start, killedAt)))} ms; recovered ${recoveredAt - backAt} ms after the tier was back\n`);
    expect(recoveredAt).toBeGreaterThan(0);
    expect(recoveredAt - backAt).toBeLessThan(10_000);
    expect((await fetch(`${web.url}/readyz`)).status).toBe(200);
  });
});
