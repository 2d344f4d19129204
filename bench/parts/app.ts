/**
 * Parts 1 and 2 of `npm run bench`: the in-process image limit (bench/image-limit.ts), then the
 * app exactly as `npm start` runs it with its defaults: each endpoint at each level, /healthz while
 * images saturate it, a real cell from the dataset, a burst of uploads and SIGTERM in flight.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  type Row,
  type Target,
  bestImageLimit,
  findRealCell,
  get,
  imageLimit,
  multipart,
  processTree,
  responseBytes,
  startApp,
} from '../lib';
import { burst, sigtermInFlight } from './stress';
import { BENCH_METRICS_TOKEN, LEVELS, QUICK, SECONDS, type Targets, type Upload, levels, saturated, warm } from './settings';

export type AppResults = Awaited<ReturnType<typeof measureApp>>;

/** Parts 1 and 2; `pngFile` holds the synthetic cell that `upload` posts. */
export async function measureApp(targets: Targets, upload: Upload, pngFile: string) {
  // 1. The in-process image limit, before any server runs.
  const limitRuns = (QUICK ? [2] : [1, 2, 4]).map((c) => ({ c, ...imageLimit(pngFile, c, QUICK ? 2 : 5) }));
  const limit = Math.max(...limitRuns.map((r) => r.perSecond));
  // The same with a real cell from the dataset, when it is beside the repository (for reference:
  // the synthetic cell is a 1 KB PNG of flat colours, far cheaper to decode than a real one).
  const realCell = findRealCell();
  const realLimit = realCell === null || QUICK ? NaN : bestImageLimit(realCell, 5);

  // 2. The app with its defaults, as `npm start` starts it.
  // NODE_ENV=production, as on Heroku: /metrics answers only with METRICS_TOKEN.
  const app = await startApp('app', { METRICS_TOKEN: BENCH_METRICS_TOKEN });
  const httpProcesses = Math.max(1, processTree(app.pid).length - 1);
  await warm(app.base, [targets.regressionForm, targets.sentimentApi, targets.malariaApi]);
  const rows: Row[] = [
    ...(await levels(app, targets.regressionForm, 'form POST /predict/regression', LEVELS)),
    ...(await levels(app, targets.sentimentApi, 'JSON POST /api/predict/sentiment', LEVELS)),
    ...(await levels(app, targets.malariaApi, 'upload POST /api/predict/malaria', LEVELS)),
  ];
  const sat = await saturated(app, targets, SECONDS);
  const health = sat.health;
  rows.push({ ...sat.images, scenario: 'upload POST /api/predict/malaria', note: 'with /healthz alongside' });
  rows.push({ ...health, scenario: 'GET /healthz while images saturate' });
  // The same probe with a new connection each time, as a platform's health check opens one.
  const healthNew = (await saturated(app, targets, SECONDS, targets.healthzNewConnection)).health;
  rows.push({ ...healthNew, scenario: 'GET /healthz while images saturate, a new connection per probe' });
  const imageRps = Math.max(...rows.filter((r) => r.scenario.startsWith('upload')).map((r) => r.rps));
  const realUpload = realCell === null || QUICK ? null : multipart(fs.readFileSync(realCell), 'image', path.basename(realCell));
  const realRows: Row[] = [];
  if (realUpload !== null) {
    const target: Target = { method: 'POST', path: '/api/predict/malaria', headers: realUpload.headers, body: realUpload.body };
    await warm(app.base, [target]);
    realRows.push(...(await levels(app, target, `upload POST /api/predict/malaria, ${path.basename(realCell as string)} from the dataset`, [8, 32])));
  }
  const realRps = realRows.length === 0 ? NaN : Math.max(...realRows.map((r) => r.rps));
  const pageBytes = await responseBytes(app.base, targets.regressionForm);
  const formPage = await fetch(app.base + targets.regressionForm.path, {
    method: 'POST',
    headers: targets.regressionForm.headers,
    body: targets.regressionForm.body as string,
  }).then((r) => r.text());
  const b = await burst(app.base, upload, 400);
  const metricsText = (await get(app.base + '/metrics', 2000, { authorization: `Bearer ${BENCH_METRICS_TOKEN}` })).body;
  await app.stop();
  const term = await sigtermInFlight(upload, 200);
  return {
    limitRuns,
    limit,
    realCell,
    realLimit,
    app,
    httpProcesses,
    rows,
    health,
    healthNew,
    imageRps,
    realRows,
    realRps,
    pageBytes,
    formPage,
    b,
    metricsText,
    term,
  };
}
