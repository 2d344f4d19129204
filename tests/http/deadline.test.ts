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

function appWith(timeoutMs: number, late: { answered: number }): express.Express {
  const app = express();
  app.use(deadline({ timeoutMs, retryAfterSeconds: 2 }));
  app.get('/api/slow', async (_req, res) => {
    await sleep(timeoutMs * 3);
    late.answered++;
    res.json({ late: true });
  });
  app.get('/slow-page', async (_req, res) => {
    await sleep(timeoutMs * 3);
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
      expect(Date.now() - started).toBeLessThan(140);
      expect(res.status).toBe(503);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.headers['retry-after']).toBe('2');
      expect(res.body.error.code).toBe('timeout');
      expect(res.body.error.message).toMatch(/within 0\.1 s/);
      await sleep(150);
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
      await sleep(150);
      expect(late.answered).toBe(1);
    });
  });
});
