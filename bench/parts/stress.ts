/**
 * The app under stress, for `npm run bench`: a burst of simultaneous uploads, and SIGTERM with
 * requests in flight (as Heroku sends it on every deploy).
 */
import http from 'node:http';
import { get, sleep, startApp } from '../lib';

/** N simultaneous uploads on N fresh connections; every answer must be 200 or 503 + Retry-After. */
export async function burst(base: string, upload: { headers: Record<string, string>; body: Buffer }, n: number) {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const started = performance.now();
  const outcomes = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<{ status: number; retryAfter: boolean; ms: number }>((resolve) => {
          const t = performance.now();
          const req = http.request(
            base + '/api/predict/malaria',
            { method: 'POST', agent, timeout: 35_000, headers: { ...upload.headers, 'content-length': String(upload.body.length) } },
            (res) => {
              res.resume();
              res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] !== undefined, ms: performance.now() - t }));
            },
          );
          req.on('timeout', () => req.destroy(new Error('timeout')));
          req.on('error', () => resolve({ status: 0, retryAfter: false, ms: performance.now() - t }));
          req.end(upload.body);
        }),
    ),
  );
  agent.destroy();
  const count = (f: (o: (typeof outcomes)[number]) => boolean): number => outcomes.filter(f).length;
  const health = await get(base + '/healthz').catch(() => ({ status: 0 }));
  return {
    ok: count((o) => o.status === 200),
    shed: count((o) => o.status === 503 && o.retryAfter),
    other: count((o) => o.status !== 200 && !(o.status === 503 && o.retryAfter)),
    slowestMs: Math.max(...outcomes.map((o) => o.ms)),
    totalMs: performance.now() - started,
    aliveAfter: health.status === 200,
  };
}

/**
 * SIGTERM while `n` requests (half image uploads, half form posts) are in flight, as Heroku sends
 * it on every deploy: how many got 200, and whether the app exited 0 (and how fast).
 */
export async function sigtermInFlight(upload: { headers: Record<string, string>; body: Buffer }, n: number) {
  const app = await startApp('app (SIGTERM)');
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const send = (i: number): Promise<number> =>
    new Promise((resolve) => {
      const image = i % 2 === 0;
      const body = image ? upload.body : Buffer.from('x=5');
      const headers = image ? upload.headers : { 'content-type': 'application/x-www-form-urlencoded' };
      const req = http.request(
        app.base + (image ? '/api/predict/malaria' : '/predict/regression'),
        { method: 'POST', agent, timeout: 35_000, headers: { ...headers, 'content-length': String(body.length) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve(0));
      req.end(body);
    });
  const answers = Array.from({ length: n }, (_, i) => send(i));
  await sleep(100); // the requests reach the server
  const exited = new Promise<{ code: number | null; at: number }>((resolve) => app.proc.once('exit', (code) => resolve({ code, at: performance.now() })));
  const signalled = performance.now();
  app.proc.kill('SIGTERM');
  const statuses = await Promise.all(answers);
  const { code, at } = await exited;
  agent.destroy();
  await app.stop();
  return { ok: statuses.filter((s) => s === 200).length, n, exitCode: code, exitMs: at - signalled };
}
