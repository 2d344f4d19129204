/**
 * Hot model versions: a new version folder models/<name>/<v+1>/ is loaded by the model tier
 * (Triton's POST /v2/repository/models/{name}/load) while predictions keep coming, without a
 * failed request; from then on the web tier answers with the new version, in predictions,
 * /api/models (the new version's card, served by the model tier) and /readyz.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { RemoteBackend } from '../../src/inference/remote';
import { defaultVersion, readVersionCard, servedVersions, readModelConfig, versionsOnDisk } from '../../src/oip/repository';
import { MODELS_DIR, buildApp } from '../helpers/app';
import { buildModelServer, listen } from '../helpers/oip';
import { sleep } from '../helpers/async';

const REVIEW = 'A warm, funny and beautifully acted film. I loved every minute of it.';

it('loads sentiment v+1 under load: no request fails, then predictions, /api/models and /readyz say v+1', async () => {
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'models-'));
  fs.cpSync(MODELS_DIR, repo, { recursive: true });
  const tier = await buildModelServer({ repo });
  const listening = await listen(tier.app);
  const remote = new RemoteBackend({ url: listening.url, timeoutMs: 5000, retries: 2 });
  const web = await buildApp({ backend: remote });
  try {
    const onDisk = versionsOnDisk(repo, 'sentiment');
    const current = defaultVersion(repo, 'sentiment', servedVersions(readModelConfig(repo, 'sentiment'), onDisk)) as string;
    const next = String(Number(onDisk.at(-1)) + 1); // after the 8-bit version served beside the float one
    const before = await request(web.app).post('/api/predict/sentiment').send({ review: REVIEW });
    expect(before.body.version).toBe(current);

    // Predictions keep coming while the new version is put in place and loaded.
    let stop = false;
    const outcomes: { status: number; version: string }[] = [];
    const traffic = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const res = await request(web.app).post('/api/predict/sentiment').send({ review: REVIEW });
        outcomes.push({ status: res.status, version: res.body.version });
      }
    });
    const card = readVersionCard(repo, 'sentiment', current);
    fs.mkdirSync(path.join(repo, 'sentiment', next));
    fs.copyFileSync(path.join(repo, 'sentiment', current, 'model.onnx'), path.join(repo, 'sentiment', next, 'model.onnx'));
    fs.writeFileSync(path.join(repo, 'sentiment', next, 'card.json'), JSON.stringify({ ...card, version: next, description: `${card?.description} Retrained.` }));
    // The config names the versions to serve (as Triton's `specific` policy): the rollout adds it.
    const configFile = path.join(repo, 'sentiment', 'config.pbtxt');
    const config = fs.readFileSync(configFile, 'utf8');
    fs.writeFileSync(configFile, /version_policy: \{ specific/.test(config) ? config.replace(/versions: \[([^\]]*)\]/, `versions: [$1, ${next} ]`) : config);
    await sleep(100);
    const load = await request(listening.url).post('/v2/repository/models/sentiment/load');
    expect(load.status).toBe(200);
    await sleep(200);
    stop = true;
    await Promise.all(traffic);

    expect(outcomes.length).toBeGreaterThan(10);
    expect(outcomes.filter((o) => o.status !== 200)).toEqual([]);
    expect(new Set(outcomes.map((o) => o.version))).toEqual(new Set([current, next]));

    const after = await request(web.app).post('/api/predict/sentiment').send({ review: REVIEW });
    expect(after.body.version).toBe(next);
    expect(after.body.scores).toEqual(before.body.scores);
    const models = await request(web.app).get('/api/models');
    const sentiment = models.body.models.find((m: { name: string }) => m.name === 'sentiment');
    expect(sentiment).toMatchObject({ version: next, description: `${card?.description} Retrained.` });
    const ready = await request(web.app).get('/readyz');
    expect(ready.body.models).toContainEqual({ name: 'sentiment', version: next });
    expect((await request(listening.url).get('/v2/models/sentiment')).body.versions).toEqual([next]);
  } finally {
    await remote.close();
    await listening.close();
    await tier.store.close();
    fs.rmSync(repo, { recursive: true, force: true });
  }
});
