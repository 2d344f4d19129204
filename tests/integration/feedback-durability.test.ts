/**
 * Issue 26, must hold 1: feedback acknowledged with 201 survives `kill -9` of every process of the
 * server and a restart, on SQLite and on Postgres; exported (`ml-forms feedback export`, the real
 * command), it yields exactly the inputs people shared, byte for byte, under the labels and values
 * they gave, and nothing else. The server runs as `npm start` runs it: a cluster of HTTP processes.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { cellImage } from '../helpers/app';
import { runCli } from '../helpers/cli';
import { type TestPostgres, postgresInstalled, startPostgres } from '../helpers/postgres';
import { type ServerProcess, startServer } from '../helpers/server-process';

jest.setTimeout(180_000);

const post = (url: string, body: unknown): Promise<Response> =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** Every process of the server's tree (the cluster's primary and its HTTP processes). */
function tree(pid: number): number[] {
  const children = (() => {
    try {
      return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  })();
  return [pid, ...children.flatMap(tree)];
}

/** What one scenario sends, and what the export must then hold. */
interface Sent {
  cells: { bytes: Buffer; label: string; share: boolean }[];
  reviews: { text: string; label: string; share: boolean }[];
  numbers: { x: string; value: number; share: boolean }[];
}

async function giveFeedback(server: ServerProcess, sent: Sent): Promise<number> {
  let acknowledged = 0;
  const feedback = async (id: unknown, body: Record<string, unknown>): Promise<void> => {
    const res = await post(`${server.url}/api/feedback`, { prediction_id: id, ...body });
    expect(res.status).toBe(201);
    acknowledged++;
  };
  for (const cell of sent.cells) {
    const form = new FormData();
    form.append('image', new Blob([cell.bytes], { type: 'image/png' }), 'cell.png');
    const answer = (await (await fetch(`${server.url}/api/predict/malaria`, { method: 'POST', body: form })).json()) as { id: string };
    await feedback(answer.id, { label: cell.label, share_input: cell.share });
  }
  for (const review of sent.reviews) {
    const answer = (await (await post(`${server.url}/api/predict/sentiment`, { review: review.text })).json()) as { id: string };
    await feedback(answer.id, { label: review.label, share_input: review.share, note: 'from the durability test' });
  }
  for (const n of sent.numbers) {
    // The page form sends x as typed: the export reads it back with the model's own parser.
    const page = await fetch(`${server.url}/predict/regression`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `x=${n.x}` });
    const id = /data-prediction-id="([0-9a-f-]{36})"/.exec(await page.text())?.[1];
    await feedback(id, { value: n.value, share_input: n.share });
  }
  return acknowledged;
}

async function scenario(databaseUrl: string, sqliteFile: string | null): Promise<void> {
  const sent: Sent = {
    cells: [
      { bytes: await cellImage('png'), label: 'uninfected', share: true },
      { bytes: await cellImage('png', { parasite: true }), label: 'parasitized', share: true },
      { bytes: await cellImage('png', { size: 90 }), label: 'parasitized', share: false },
    ],
    reviews: [
      { text: 'A slow start, then a film I will not forget. Wonderful.', label: 'positive', share: true },
      { text: 'Dull, long and badly acted.', label: 'negative', share: false },
    ],
    numbers: [
      { x: '2.50', value: 9.75, share: true },
      { x: '7', value: 30, share: false },
    ],
  };
  let server = await startServer({ DATABASE_URL: databaseUrl, WEB_CONCURRENCY: '2' }, 60_000);
  const acknowledged = await giveFeedback(server, sent);
  expect(acknowledged).toBe(7);
  // kill -9 every process at once, right after the last 201: nothing gets to flush or close.
  for (const pid of tree(server.child.pid as number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await server.exited;
  server = await startServer({ DATABASE_URL: databaseUrl, WEB_CONCURRENCY: '2' }, 60_000);
  try {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-export-'));
    const run = await runCli(['feedback', 'export', '--out', out, '--database', databaseUrl]);
    expect(run.code).toBe(0);
    // The images: exactly the shared ones, byte for byte, under their corrected labels.
    const images = ['parasitized', 'uninfected'].flatMap((label) =>
      fs.readdirSync(path.join(out, 'malaria', label)).map((f) => ({ label, bytes: fs.readFileSync(path.join(out, 'malaria', label, f)) })),
    );
    const shared = sent.cells.filter((c) => c.share);
    expect(images).toHaveLength(shared.length);
    for (const cell of shared) expect(images.some((i) => i.label === cell.label && i.bytes.equals(cell.bytes))).toBe(true);
    const lines = zlib
      .gunzipSync(fs.readFileSync(path.join(out, 'imdb', 'train.jsonl.gz')))
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { text: string; label: string });
    expect(lines.map((l) => [l.text, l.label])).toEqual(sent.reviews.filter((r) => r.share).map((r) => [r.text, r.label]));
    expect(fs.readFileSync(path.join(out, 'regression', 'points.csv'), 'utf8')).toBe('x,y\n2.5,9.75\n');
  } finally {
    server.child.kill('SIGKILL');
    await server.exited;
    if (sqliteFile !== null) fs.rmSync(path.dirname(sqliteFile), { recursive: true, force: true });
  }
}

describe('feedback acknowledged, then kill -9 of every process (must hold 1)', () => {
  it('survives on SQLite, and exports exactly the shared inputs', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-durable-')), 'log.sqlite');
    await scenario(`sqlite://${file}`, file);
  });

  (postgresInstalled() ? it : it.skip)('survives on Postgres, and exports exactly the shared inputs', async () => {
    const pg = (await startPostgres()) as TestPostgres;
    try {
      await scenario(pg.url, null);
    } finally {
      await pg.destroy();
    }
  });
});
