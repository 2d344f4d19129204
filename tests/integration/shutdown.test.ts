/**
 * Graceful shutdown of the real server, as one process and as a cluster: SIGTERM while 200 image
 * and review predictions are in flight. Every request is answered, /readyz turns 503 while draining, and the process
 * exits 0 well within Heroku's 30 s (we require 10 s).
 */
import { cellImage } from '../helpers/app';
import { startServer } from '../helpers/server-process';
import { sleep } from '../helpers/async';

jest.setTimeout(60_000);

describe.each([
  ['the defaults (an HTTP process per core)', {}],
  ['one process', { WEB_CONCURRENCY: '1' }],
  ['a model host and 2 HTTP processes', { WEB_CONCURRENCY: '2', CLUSTER_MODELS: 'host' }],
])('SIGTERM with requests in flight: %s', (_name, env: Record<string, string>) => {
  it('answers all 200 in-flight predictions, then exits 0 within 10 s', async () => {
    const server = await startServer(env);
    const image = await cellImage('png', { size: 140 });
    const review = 'A slow start, but the last hour is wonderful: great acting and a moving score. '.repeat(20);

    const requests = Array.from({ length: 200 }, (_, i) => {
      if (i % 2 === 0) {
        const body = new FormData();
        body.append('image', new Blob([image], { type: 'image/png' }), 'cell.png');
        return fetch(`${server.url}/api/predict/malaria`, { method: 'POST', body });
      }
      return fetch(`${server.url}/api/predict/sentiment`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ review }),
      });
    });
    await sleep(150); // let the requests reach the server
    const signalledAt = Date.now();
    server.child.kill('SIGTERM');

    const responses = await Promise.all(
      requests.map((p) => p.then(async (r) => ({ status: r.status, body: (await r.json()) as { statement?: unknown } }))),
    );
    const { code, at } = await server.exited;

    expect(responses.filter((r) => r.status !== 200)).toEqual([]);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(200);
    expect(responses.every((r) => typeof r.body.statement === 'string')).toBe(true);
    expect(code).toBe(0);
    expect(at - signalledAt).toBeLessThan(10_000);
    expect(server.logs.join('\n')).toMatch(/shutting down/);
  });

  it('refuses new connections after SIGTERM and reports not ready while draining', async () => {
    const server = await startServer(env);
    const slow = fetch(`${server.url}/api/predict/sentiment`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ review: 'good '.repeat(3000) }),
    });
    await sleep(20);
    server.child.kill('SIGTERM');
    expect((await slow).status).toBe(200);
    const { code } = await server.exited;
    expect(code).toBe(0);
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });
});
