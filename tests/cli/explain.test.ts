/**
 * `ml-forms predict --explain` (issue 25), run for real (spawned) with the real models, on reviews
 * and on cell images: the `explanation` column (CSV) or field (JSON Lines) is the JSON API's
 * `explanation` for the same input, in process (this thread and worker threads) and with --url against the app served here;
 * without --explain the output is what it was; --resume and merge refuse to mix rows written with
 * and without it.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { buildApp, cellImage, realBackend } from '../helpers/app';
import { csvRows, runCli } from '../helpers/cli';
import { partPath } from '../../src/cli/shard';

jest.setTimeout(120_000);

const SENTIMENT_HEADER = ['input', 'label', 'confidence', 'score_negative', 'score_positive', 'error'];
const EXPLAINED_HEADER = [...SENTIMENT_HEADER.slice(0, -1), 'explanation', 'error'];
/** Reviews with commas, quotes, a formula-like id and an empty review (an error row). */
const REVIEWS = [
  { id: 'r1', review: 'A wonderful, moving film: "brilliant" acting and a score I still hum.' },
  { id: 'r2', review: '' },
  { id: '=r3', review: 'Dull and far too long; I walked out before the end.' },
  { id: 'r4', review: 'Not bad at all, though the ending was weak.' },
  { id: 'r5', review: 'The worst script I have read in years. Avoid.' },
];

let dir: string;
let reviews: string;
let app: Awaited<ReturnType<typeof buildApp>>;
let explained: Awaited<ReturnType<typeof runCli>>;
let plain: Awaited<ReturnType<typeof runCli>>;
const at = (...parts: string[]): string => path.join(dir, ...parts);
/** The real command on the test's reviews file, ids from its `id` field, with `args` after. */
const predictReviews = (...args: string[]): ReturnType<typeof runCli> =>
  runCli(['predict', 'sentiment', reviews, '--id-field', 'id', ...args]);
const review = (id: string): string => REVIEWS.find((r) => r.id === id.replace(/^'/, ''))?.review ?? '';

/** The API's answer for one review, with ?explain=1. */
async function apiAnswer(text: string): Promise<request.Response> {
  return request(app.app).post('/api/predict/sentiment?explain=1').send({ review: text });
}

/** The CSV text without its `explanation` column (the column before the last). */
function withoutExplanation(csv: string): string {
  return csvRows(csv)
    .map((cells) => [...cells.slice(0, -2), cells[cells.length - 1] ?? ''])
    .map((cells) => cells.map((c) => (/[",\n]/.test(c) ? `"${c.replaceAll('"', '""')}"` : c)).join(',') + '\n')
    .join('');
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-explain-'));
  reviews = at('reviews.jsonl');
  fs.writeFileSync(reviews, REVIEWS.map((r) => JSON.stringify(r) + '\n').join(''));
  app = await buildApp({ backend: realBackend() });
  [explained, plain] = await Promise.all([
    predictReviews('--explain', '--quiet', '--concurrency', '1'),
    predictReviews('--quiet', '--concurrency', '1'),
  ]);
});

afterAll(async () => {
  await app?.registry.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('ml-forms predict sentiment --explain (CSV)', () => {
  it('adds the explanation column before error, one row per review, the empty review an error row', () => {
    const rows = csvRows(explained.stdout);
    expect(rows[0]).toEqual(EXPLAINED_HEADER);
    expect(rows.slice(1).map((r) => r[0])).toEqual(['r1', 'r2', "'=r3", 'r4', 'r5']);
    const empty = rows.find((r) => r[0] === 'r2');
    expect(empty?.slice(1, 6)).toEqual(['', '', '', '', '']);
    expect(empty?.[6]).toMatch(/^empty_review: /);
    expect(explained.code).toBe(1);
  });

  it("holds, for every review, the JSON API's explanation (and answer) for the same review", async () => {
    for (const [input, label, confidence, negative, positive, explanation, error] of csvRows(explained.stdout).slice(
      1,
    )) {
      const res = await apiAnswer(review(input as string));
      if (error !== '') {
        expect(`${res.body.error.code}: ${res.body.error.message}`).toBe(error);
        expect(explanation).toBe('');
        continue;
      }
      expect(res.status).toBe(200);
      expect(res.body.explanation).toEqual(expect.objectContaining({ tokens: expect.any(Array) }));
      expect(JSON.parse(explanation as string)).toEqual(res.body.explanation);
      expect(res.body).toMatchObject({
        label,
        confidence: Number(confidence),
        scores: { negative: Number(negative), positive: Number(positive) },
      });
    }
  });

  it('writes the same bytes with worker threads as in this thread', async () => {
    const workers = await predictReviews('--explain', '--concurrency', '2');
    expect(workers.stderr).toMatch(/2 worker threads/);
    expect(workers.code).toBe(1);
    expect(workers.stdout).toBe(explained.stdout);
  });
});

describe('ml-forms predict sentiment --explain --out FILE.jsonl', () => {
  it("gives each prediction the API's explanation object; an error row has none", async () => {
    const out = at('explained.jsonl');
    const run = await predictReviews('--explain', '--out', out, '--quiet');
    expect(run.code).toBe(1);
    const records = fs
      .readFileSync(out, 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.map((r) => r.input)).toEqual(REVIEWS.map((r) => r.id));
    for (const record of records) {
      const res = await apiAnswer(review(record.input as string));
      if (record.error !== undefined) {
        expect(record).toEqual({ input: record.input, error: res.body.error });
        continue;
      }
      const { label, confidence, scores, explanation } = res.body;
      expect(record).toEqual({ input: record.input, label, confidence, scores, explanation });
    }
  });
});

describe('without --explain', () => {
  it('writes the columns and bytes it always has: the explained output without its explanation column', () => {
    expect(csvRows(plain.stdout)[0]).toEqual(SENTIMENT_HEADER);
    expect(plain.stdout).not.toContain('explanation');
    expect(plain.stdout).toBe(withoutExplanation(explained.stdout));
    expect(plain.code).toBe(1);
  });

  it('writes JSON Lines records without explanation', async () => {
    const out = at('plain.jsonl');
    await predictReviews('--out', out, '--quiet');
    const records = fs
      .readFileSync(out, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as object);
    expect(records.filter((r) => 'explanation' in r)).toEqual([]);
    expect(records).toHaveLength(REVIEWS.length);
  });
});

describe('--explain --url: the inputs sent to the JSON API with ?explain=1', () => {
  let server: http.Server;
  let url: string;
  const asked: string[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      asked.push(`${req.method} ${req.url}`);
      app.app(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('writes the same bytes as the in-process run, having asked for the explanations', async () => {
    asked.length = 0;
    const remote = await predictReviews('--explain', '--url', url);
    expect(remote.stderr).toMatch(/the JSON API at http:\/\/127\.0\.0\.1/);
    expect(remote.stdout).toBe(explained.stdout);
    expect(remote.code).toBe(1);
    const posts = asked.filter((a) => a.startsWith('POST'));
    expect(posts).toHaveLength(REVIEWS.length);
    expect(new Set(posts)).toEqual(new Set(['POST /api/predict/sentiment?explain=1']));
  });

  it('without --explain asks for none and writes what the in-process run writes', async () => {
    asked.length = 0;
    const remote = await predictReviews('--url', url, '--quiet');
    expect(remote.stdout).toBe(plain.stdout);
    expect(new Set(asked.filter((a) => a.startsWith('POST')))).toEqual(new Set(['POST /api/predict/sentiment']));
  });

  it("makes an answer without an explanation (a server from before ?explain=1) that row's no_explanation error", async () => {
    const old = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/api/models')
        return res.end(
          JSON.stringify({ models: [{ name: 'sentiment', labels: ['negative', 'positive'], version: '1' }] }),
        );
      res.end(
        JSON.stringify({
          model: 'sentiment',
          version: '1',
          label: 'positive',
          confidence: 0.9,
          scores: { negative: 0.1, positive: 0.9 },
          statement: '…',
        }),
      );
    });
    await new Promise<void>((resolve) => old.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(old.address() as { port: number }).port}`;
      const run = await runCli(['predict', 'sentiment', '-', '--explain', '--url', base, '--quiet'], {
        input: 'Lovely.\n',
      });
      expect(csvRows(run.stdout)).toEqual([
        EXPLAINED_HEADER,
        ['1', '', '', '', '', '', `no_explanation: ${base} answered without an explanation.`],
      ]);
      expect(run.code).toBe(1);
    } finally {
      await new Promise<void>((resolve) => old.close(() => resolve()));
    }
  });
});

describe('--resume does not mix rows written with and without --explain', () => {
  /** Runs --resume on `file` (written with `first`), expecting a refusal that leaves it as it was. */
  async function refusedResume(file: string, first: string[], then: string[], expected: RegExp): Promise<void> {
    await predictReviews('--out', file, '--quiet', ...first);
    const before = fs.readFileSync(file);
    const run = await predictReviews('--out', file, '--resume', ...then);
    expect(run.stderr).toMatch(expected);
    expect(run.code).toBe(2);
    expect(fs.readFileSync(file)).toEqual(before);
  }

  it.each([
    ['csv', ['--explain'], [], /was written with --explain: complete it with --explain/],
    ['csv', [], ['--explain'], /was written without --explain: complete it without --explain/],
    ['jsonl', ['--explain'], [], /was written with --explain/],
    ['jsonl', [], ['--explain'], /was written without --explain/],
  ])('refuses a .%s file written %p when resumed with %p, untouched', async (ext, first, then, expected) => {
    await refusedResume(at(`mixed-${first.length}-${then.length}.${ext}`), first, then, expected);
  });

  it('completes an explained file cut short, with --explain, to the whole run', async () => {
    const file = at('cut.csv');
    const lines = explained.stdout.split('\n');
    fs.writeFileSync(file, lines.slice(0, 3).join('\n') + '\n' + (lines[3] ?? '').slice(0, 20)); // two rows, a third cut
    const run = await predictReviews('--out', file, '--resume', '--explain');
    expect(run.stderr).toMatch(/2 already there/);
    expect(fs.readFileSync(file, 'utf8')).toBe(explained.stdout);
  });
});

describe('shards: parts run with --explain merge into the explained output; mixed parts are refused', () => {
  it('merges explained parts into the unsharded --explain output', async () => {
    const out = at('sharded.csv');
    const runs = await Promise.all(
      [0, 1].map((i) => predictReviews('--explain', '--out', out, '--shard', `${i}/2`, '--concurrency', '1')),
    );
    expect(runs.map((r) => r.stderr).join('')).not.toMatch(/no part was written/);
    const merged = await runCli([
      'merge',
      partPath(out, { index: 0, count: 2 }),
      partPath(out, { index: 1, count: 2 }),
    ]);
    expect(merged.stdout).toBe(explained.stdout);
    expect(merged.code).toBe(1);
  });

  it('refuses parts run with and without --explain, exit 2, nothing written', async () => {
    const out = at('mixed.csv');
    await Promise.all([
      predictReviews('--explain', '--out', out, '--shard', '0/2', '--quiet'),
      predictReviews('--out', out, '--shard', '1/2', '--quiet'),
    ]);
    const target = at('mixed-merged.csv');
    const run = await runCli([
      'merge',
      partPath(out, { index: 0, count: 2 }),
      partPath(out, { index: 1, count: 2 }),
      '--out',
      target,
    ]);
    expect(run.stderr).toMatch(
      /cannot merge:\n {2}shard \d\/2: .+ was run with(out)? --explain, the other parts with(out)?$/m,
    );
    expect(run.code).toBe(2);
    expect(fs.existsSync(target)).toBe(false);
  });
});

describe('usage', () => {
  it('refuses --explain for a model that does not explain its answers, naming those that do', async () => {
    const run = await runCli(['predict', 'regression', '-', '--explain'], { input: '5\n' });
    expect(run.stderr).toMatch(
      /--explain: the model regression does not explain its answers \(the models that do: .*sentiment/,
    );
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
  });

  it('refuses --explain on merge (the parts say whether they were explained)', async () => {
    const run = await runCli(['merge', at('any.part-0-of-1.jsonl'), '--explain']);
    expect(run.stderr).toMatch(/--explain does not apply to merge/);
    expect(run.code).toBe(2);
  });

  it('documents --explain in --help', async () => {
    const run = await runCli(['predict', '--help']);
    expect(run.stdout).toMatch(
      /^ {2}--explain {11}add why the model answered so \(.*sentiment.*\): the column explanation/m,
    );
  });
});

describe('ml-forms predict malaria --explain', () => {
  it("holds every cell's API explanation, in this thread, in worker threads and with --url alike", async () => {
    const cells = at('cells');
    fs.mkdirSync(path.join(cells, 'parasitized'), { recursive: true });
    fs.mkdirSync(path.join(cells, 'uninfected'), { recursive: true });
    fs.writeFileSync(path.join(cells, 'parasitized', 'p.png'), await cellImage('png', { parasite: true }));
    fs.writeFileSync(path.join(cells, 'uninfected', 'u.png'), await cellImage('png'));
    fs.writeFileSync(path.join(cells, 'empty.png'), '');
    const [one, two] = await Promise.all([
      runCli(['predict', 'malaria', cells, '--explain', '--concurrency', '1', '--quiet']),
      runCli(['predict', 'malaria', cells, '--explain', '--concurrency', '2', '--quiet']),
    ]);
    expect(two.stdout).toBe(one.stdout);
    const rows = csvRows(one.stdout);
    expect(rows[0]).toEqual([
      'input',
      'label',
      'confidence',
      'score_parasitized',
      'score_uninfected',
      'explanation',
      'error',
    ]);
    expect(rows).toHaveLength(4);
    for (const [file, , , , , explanation, error] of rows.slice(1)) {
      const res = await request(app.app)
        .post('/api/predict/malaria?explain=1')
        .attach('image', fs.readFileSync(file as string), 'x');
      if (error !== '') {
        expect(`${res.body.error.code}: ${res.body.error.message}`).toBe(error);
        continue;
      }
      expect(JSON.parse(explanation as string)).toEqual(res.body.explanation);
      expect(res.body.explanation).toEqual(
        expect.objectContaining({ width: expect.any(Number), height: expect.any(Number) }),
      );
    }
    const server = http.createServer(app.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const remote = await runCli(['predict', 'malaria', cells, '--explain', '--url', url, '--quiet']);
      expect(remote.stdout).toBe(one.stdout);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
