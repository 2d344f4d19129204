/**
 * Issue 26, must hold 2: the database stopped under load. The real server (its cluster of HTTP
 * processes, as `npm start` runs it) on a real Postgres: while the database is down, predictions
 * keep answering 200 without waiting on it; feedback answers 503 with Retry-After; feedback
 * acknowledged before stays; once the database is back the server reconnects by itself within 5 s
 * (a prediction answered during the outage can then be given feedback: its log line was kept and
 * written), and the log says how many entries were dropped.
 */
import { openStore } from '../../src/database/open';
import { sleep } from '../helpers/async';
import { type TestPostgres, postgresInstalled, startPostgres } from '../helpers/postgres';
import { type ServerProcess, startServer } from '../helpers/server-process';

jest.setTimeout(120_000);

const run = postgresInstalled() ? describe : describe.skip;

const json = (url: string, body: unknown): Promise<Response> =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** Predictions one after another for `ms`: how many, their statuses, and the slowest. */
async function predictFor(url: string, ms: number): Promise<{ n: number; statuses: Set<number>; slowestMs: number; ids: string[] }> {
  const end = Date.now() + ms;
  const statuses = new Set<number>();
  const ids: string[] = [];
  let n = 0;
  let slowestMs = 0;
  while (Date.now() < end) {
    const started = performance.now();
    const res = await json(`${url}/api/predict/sentiment`, { review: `review number ${n}: a good and moving film` });
    statuses.add(res.status);
    const body = (await res.json()) as { id?: string };
    if (body.id !== undefined) ids.push(body.id);
    slowestMs = Math.max(slowestMs, performance.now() - started);
    n++;
  }
  return { n, statuses, slowestMs, ids };
}

run('with Postgres stopped under load (must hold 2)', () => {
  let pg: TestPostgres;
  let server: ServerProcess;
  beforeAll(async () => {
    pg = (await startPostgres()) as TestPostgres;
    server = await startServer({ DATABASE_URL: pg.url, WEB_CONCURRENCY: '2' }, 60_000);
  });
  afterAll(async () => {
    server?.child.kill('SIGKILL');
    await pg?.destroy();
  });

  it('keeps predicting, answers feedback 503 + Retry-After, loses nothing acknowledged, and reconnects within 5 s', async () => {
    const before = await predictFor(server.url, 2000);
    expect([...before.statuses]).toEqual([200]);
    const acknowledged = await json(`${server.url}/api/feedback`, { prediction_id: before.ids[0], label: 'negative', share_input: true });
    expect(acknowledged.status).toBe(201);

    await pg.stop();
    const during = await predictFor(server.url, 3000);
    expect([...during.statuses]).toEqual([200]);
    // Nothing waits on the database: no prediction took anywhere near a connection timeout.
    expect(during.slowestMs).toBeLessThan(1000);
    const refused = await json(`${server.url}/api/feedback`, { prediction_id: before.ids[1], label: 'negative' });
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('database_unavailable');
    console.log(
      `predictions one at a time: ${(before.n / 2).toFixed(0)}/s before, ${(during.n / 3).toFixed(0)}/s with the database stopped (${((during.n / 3 / (before.n / 2)) * 100).toFixed(0)} %), slowest ${during.slowestMs.toFixed(0)} ms`,
    );

    await pg.start();
    const back = Date.now();
    // A prediction answered while the database was down: its log line waited, and is written now.
    const target = during.ids[during.ids.length - 1];
    let status = 0;
    while (Date.now() - back < 10_000) {
      status = (await json(`${server.url}/api/feedback`, { prediction_id: target, label: 'negative' })).status;
      if (status === 201) break;
      await sleep(100);
    }
    const reconnectMs = Date.now() - back;
    console.log(`feedback accepted again ${reconnectMs} ms after the database came back`);
    expect(status).toBe(201);
    expect(reconnectMs).toBeLessThan(5000);

    // What was acknowledged before the outage is still there, with its shared input.
    const ackId = ((await acknowledged.json()) as { id: string }).id;
    const store = await openStore(pg.url, { projectRoot: process.cwd() });
    const kept: string[] = [];
    for await (const item of store.exportFeedback()) if (item.input !== null) kept.push(item.feedback.id);
    await store.close();
    expect(kept).toContain(ackId);
    await sleep(1500);
    const notes = server.logs.filter((l) => l.includes('entries dropped during the outage'));
    expect(notes.length).toBeGreaterThan(0);
    expect(notes[0]).toMatch(/"dropped":\d+/);
  });
});
