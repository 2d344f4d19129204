/**
 * Per-request deadline: an unanswered request gets 503 "timeout" with Retry-After from the app's
 * error handler, and the route's late answer is dropped without crashing or corrupting the next
 * request on the connection.
 */
import path from 'node:path';
import express from 'express';
import request from 'supertest';
import { loadConfig } from '../../src/config';
import { deadline } from '../../src/http/deadline';
import { errorHandler } from '../../src/http/errors';
import { PageRenderer } from '../../src/http/page';
import { MODELS } from '../../src/models';
import type { Registry } from '../../src/predictors/registry';
import { sleep } from '../helpers/async';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, fatal: () => undefined };

/**
 * The slow routes answer this many deadlines late: far enough that an answer in time cannot be
 * mistaken for theirs on a loaded machine (a 503 within LATE_BOUND_MS of a route that takes
 * 8 × 50 ms), while a timer firing a little late does not fail the test.
 */
const LATE_FACTOR = 8;
const LATE_BOUND_MS = 300;

/** Until the slow route has finished (its late answer dropped), at most two seconds. */
async function routeFinished(late: { answered: number }): Promise<void> {
  for (let waited = 0; late.answered === 0 && waited < 2000; waited += 25) await sleep(25);
}

function appWith(timeoutMs: number, late: { answered: number }): express.Express {
  const app = express();
  app.use(deadline({ timeoutMs, retryAfterSeconds: 2 }));
  app.get('/api/slow', async (_req, res) => {
    await sleep(timeoutMs * LATE_FACTOR);
    late.answered++;
    res.json({ late: true });
  });
  app.get('/slow-page', async (_req, res) => {
    await sleep(timeoutMs * LATE_FACTOR);
    late.answered++;
    res.send('<p>late</p>');
  });
  app.get('/api/fast', (_req, res) => {
    res.json({ fast: true });
  });
  const registry = { ready: false, cards: () => [], definitions: MODELS } as unknown as Registry;
  app.use(errorHandler({ registry, config: loadConfig({ NODE_ENV: 'test' }), page: new PageRenderer(path.join(__dirname, '..', '..', 'views')) }, silent));
  return app;
}

describe('deadline middleware', () => {
  describe('when the route answers in time', () => {
    it('passes the answer through untouched', async () => {
      const res = await request(appWith(200, { answered: 0 })).get('/api/fast');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ fast: true });
      expect(res.headers['retry-after']).toBeUndefined();
    });
  });

  describe('when the route is too slow', () => {
    it('answers 503 timeout JSON with Retry-After, and drops the late answer', async () => {
      const late = { answered: 0 };
      const app = appWith(50, late);
      const started = Date.now();
      const res = await request(app).get('/api/slow');
      expect(Date.now() - started).toBeLessThan(LATE_BOUND_MS);
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.headers['retry-after']).toBe('2');
      expect(res.body.error.code).toBe('timeout');
      expect(res.body.error.message).toMatch(/within 0\.1 s/);
      await routeFinished(late);
      expect(late.answered).toBe(1); // the route finished; its answer went nowhere, nothing threw
      expect((await request(app).get('/api/fast')).status).toBe(200);
    });

    it('answers browsers with the page and a 503, and drops the late render', async () => {
      const late = { answered: 0 };
      const app = appWith(50, late);
      const res = await request(app).get('/slow-page').set('Accept', 'text/html');
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(/text\/html/);
      expect(res.headers['retry-after']).toBe('2');
      await routeFinished(late);
      expect(late.answered).toBe(1);
    });
  });
});
