/**
 * `ml-forms feedback export` (issue 26, must hold 1: "exported it yields exactly the shared inputs
 * with their labels"), run as the real command on a SQLite store in a temp folder and on a
 * throwaway Postgres server (tests/helpers/postgres.ts; skipped where postgresql is not installed,
 * never in CI): predictions with held inputs (a PNG and a WebP cell made with sharp, two reviews, a
 * number), feedback on each, some shared, some not, one shared after its input had expired. The export holds exactly the shared
 * inputs, byte for byte, under their corrected labels and nothing else; --force replaces an earlier
 * export (deleted items go); usage errors exit 2, an unreadable database 1, both writing nothing.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { MODELS } from '../../src/models';
import { openStore } from '../../src/database/open';
import type { FeedbackRecord, HeldInput, PredictionRecord, Store } from '../../src/database/types';
import { cellImage } from '../helpers/cell-image';
import { ROOT, runCli } from '../helpers/cli';
import { type TestPostgres, postgresInstalled, startPostgres } from '../helpers/postgres';

jest.setTimeout(60_000);

let dir: string;
/** A SQLite URL for the runs that must stop before reading any database. */
let unusedUrl: string;
const at = (...p: string[]): string => path.join(dir, ...p);

/** Every file and folder under `root`, relative, sorted. */
function tree(root: string): string[] {
  return (fs.readdirSync(root, { recursive: true }) as string[]).map((p) => p.split(path.sep).join('/')).sort();
}

const REVIEW_SHARED = 'Не так уж плохо — but the "ending"…\nI wanted my two hours back.<br /><br />Café scenes: 2/10';
const REVIEW_KEPT = 'A warm, funny film.';
const MINUTE = 60_000;

interface Case {
  model: string;
  input: { mediaType: string; bytes: Buffer };
  predicted: { label: string | null; value: number | null };
  /** What the person says it should have been. */
  correct: { label: string | null; value: number | null };
  share: boolean;
  /** The held input's expiry, relative to now. */
  expiresIn: number;
}

let png: Buffer;
let webp: Buffer;

/** The feedback ids of one store's cases, by case name. */
type Ids = Map<string, string>;

/** Logs a prediction with its held input for each case, then its feedback; what the store says was shared. */
async function seed(store: Store, ids: Ids, cases: Record<string, Case>): Promise<Record<string, boolean>> {
  const now = Date.now();
  const predictions: PredictionRecord[] = [];
  const inputs: HeldInput[] = [];
  const predictionIds = new Map<string, string>();
  for (const [name, c] of Object.entries(cases)) {
    const id = randomUUID();
    predictionIds.set(name, id);
    predictions.push({
      id,
      at: now - MINUTE,
      model: c.model,
      version: '1',
      source: 'api',
      label: c.predicted.label,
      value: c.predicted.value,
      confidence: c.predicted.label === null ? null : 0.9,
      latencyMs: 3,
      features: {},
    });
    inputs.push({ predictionId: id, mediaType: c.input.mediaType, bytes: c.input.bytes, expiresAt: now + c.expiresIn });
  }
  await store.write(predictions, inputs);
  const shared: Record<string, boolean> = {};
  for (const [name, c] of Object.entries(cases)) {
    const feedback: FeedbackRecord = {
      id: randomUUID(),
      predictionId: predictionIds.get(name) as string,
      at: Date.now(),
      model: c.model,
      version: '1',
      predictedLabel: c.predicted.label,
      predictedValue: c.predicted.value,
      label: c.correct.label,
      value: c.correct.value,
      note: null,
    };
    ids.set(name, feedback.id);
    shared[name] = (await store.addFeedback(feedback, c.share)).inputShared;
  }
  return shared;
}

const text = (s: string): { mediaType: string; bytes: Buffer } => ({
  mediaType: 'text/plain; charset=utf-8',
  bytes: Buffer.from(s, 'utf8'),
});
const cls = (label: string): { label: string; value: null } => ({ label, value: null });

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-feedback-export-'));
  unusedUrl = `sqlite://${at('unused.sqlite')}`;
  png = await cellImage('png', { parasite: true, size: 96 });
  webp = await cellImage('webp', { parasite: false, size: 110 });
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Opens the store, seeds the cases (some shared, some not, one expired) and checks what the store shared. */
async function seeded(url: string, ids: Ids): Promise<Store> {
  const store = await openStore(url, { projectRoot: ROOT });
  await store.migrate();
  const shared = await seed(store, ids, {
    pngCell: {
      model: 'malaria',
      input: { mediaType: 'image/png', bytes: png },
      predicted: cls('parasitized'),
      correct: cls('uninfected'),
      share: true,
      expiresIn: 30 * MINUTE,
    },
    webpCell: {
      model: 'malaria',
      input: { mediaType: 'image/webp', bytes: webp },
      predicted: cls('uninfected'),
      correct: cls('parasitized'),
      share: true,
      expiresIn: 30 * MINUTE,
    },
    keptCell: {
      model: 'malaria',
      input: { mediaType: 'image/webp', bytes: webp },
      predicted: cls('uninfected'),
      correct: cls('parasitized'),
      share: false,
      expiresIn: 30 * MINUTE,
    },
    expiredCell: {
      model: 'malaria',
      input: { mediaType: 'image/png', bytes: png },
      predicted: cls('parasitized'),
      correct: cls('uninfected'),
      share: true,
      expiresIn: -MINUTE,
    },
    sharedReview: {
      model: 'sentiment',
      input: text(REVIEW_SHARED),
      predicted: cls('positive'),
      correct: cls('negative'),
      share: true,
      expiresIn: 30 * MINUTE,
    },
    keptReview: {
      model: 'sentiment',
      input: text(REVIEW_KEPT),
      predicted: cls('negative'),
      correct: cls('positive'),
      share: false,
      expiresIn: 30 * MINUTE,
    },
    number: {
      model: 'regression',
      input: text('2.50'),
      predicted: { label: null, value: 10.25 },
      correct: { label: null, value: 19.125 },
      share: true,
      expiresIn: 30 * MINUTE,
    },
  });
  // The store's own word on what was shared: the export must follow it.
  expect(shared).toEqual({
    pngCell: true,
    webpCell: true,
    keptCell: false,
    expiredCell: false,
    sharedReview: true,
    keptReview: false,
    number: true,
  });
  return store;
}

const KINDS = ['sqlite', 'postgres'] as const;
describe.each(KINDS)('ml-forms feedback export, a %s store with shared and unshared feedback', (kind) => {
  const ids: Ids = new Map();
  const fid = (name: string): string => ids.get(name) as string;
  let server: TestPostgres | null = null;
  let store: Store;
  let dbUrl: string;
  const run = kind === 'postgres' && !postgresInstalled() ? it.skip : it;

  beforeAll(async () => {
    if (kind === 'postgres') {
      server = await startPostgres();
      if (server === null) return;
      dbUrl = server.url;
    } else dbUrl = `sqlite://${at('ml-forms.sqlite')}`;
    store = await seeded(dbUrl, ids);
  });

  afterAll(async () => {
    await store?.close();
    await server?.destroy();
  });

  run('writes exactly the shared inputs, byte for byte, under their corrected labels', async () => {
    const out = at(kind, 'export');
    const done = await runCli(['feedback', 'export', '--out', out, '--database', dbUrl]);
    expect(done.stderr).not.toMatch(/\n\s+at /); // no stack
    expect(done.code).toBe(0);

    expect(tree(out)).toEqual(
      [
        'imdb',
        'imdb/train.jsonl.gz',
        'malaria',
        'malaria/parasitized',
        `malaria/parasitized/${fid('webpCell')}.webp`,
        'malaria/uninfected',
        `malaria/uninfected/${fid('pngCell')}.png`,
        'regression',
        'regression/points.csv',
      ].sort(),
    );
    expect(fs.readFileSync(path.join(out, 'malaria', 'uninfected', `${fid('pngCell')}.png`)).equals(png)).toBe(true);
    expect(fs.readFileSync(path.join(out, 'malaria', 'parasitized', `${fid('webpCell')}.webp`)).equals(webp)).toBe(
      true,
    );
    // As ../shared/data/imdb/train.jsonl.gz has them: one object a line, id first.
    const lines = zlib.gunzipSync(fs.readFileSync(path.join(out, 'imdb', 'train.jsonl.gz'))).toString('utf8');
    expect(lines).toBe(
      JSON.stringify({ id: `feedback/${fid('sharedReview')}`, text: REVIEW_SHARED, label: 'negative' }) + '\n',
    );
    expect(fs.readFileSync(path.join(out, 'regression', 'points.csv'), 'utf8')).toBe('x,y\n2.5,19.125\n');

    expect(done.stderr).toContain('4 shared items');
    expect(done.stderr).toMatch(/malaria: 2 \(parasitized 1, uninfected 1\)/);
    expect(done.stderr).toMatch(/sentiment: 1 \(negative 1\)/);
    expect(done.stderr).toMatch(/regression: 1\n/);
    expect(done.stderr).toMatch(/not written: 3 feedback items without a shared input \(malaria 2, sentiment 1\)/);
  });

  run(
    'refuses a folder that holds files, and with --force replaces the earlier export there (deleted items go)',
    async () => {
      const out = at(kind, 'again');
      // DATABASE_URL, when --database is not given (as the app reads it).
      expect((await runCli(['feedback', 'export', '--out', out], { env: { DATABASE_URL: dbUrl } })).code).toBe(0);
      fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
      const before = tree(out);

      const refused = await runCli(['feedback', 'export', '--out', out, '--database', dbUrl]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/already holds files.*--force/);
      expect(tree(out)).toEqual(before);

      // One cell deleted, and the only number: its file must go too, not stay from the earlier export.
      expect(await store.deleteFeedback(fid('pngCell'))).toBe(true);
      expect(await store.deleteFeedback(fid('number'))).toBe(true);
      const forced = await runCli(['feedback', 'export', '--out', out, '--database', dbUrl, '--force']);
      expect(forced.code).toBe(0);
      const gone = [`malaria/uninfected/${fid('pngCell')}.png`, 'regression/points.csv'];
      expect(gone.every((p) => before.includes(p))).toBe(true);
      expect(tree(out)).toEqual(before.filter((p) => !gone.includes(p)));
      expect(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('mine');
      expect(forced.stderr).toMatch(/malaria: 1 \(parasitized 1\)/);
    },
  );
});

describe('ml-forms feedback export, what it refuses', () => {
  // OUT stands for a folder in the temp folder: none of them may be made.
  it.each([
    ['no --out', ['feedback', 'export', '--database', 'sqlite:///nowhere.sqlite'], /--out DIR is needed/],
    ['an unknown option', ['feedback', 'export', '--out', 'OUT', '--bogus'], /Unknown option '--bogus'/],
    ['no subcommand', ['feedback', '--out', 'OUT'], /missing command: ml-forms feedback export/],
    ['another subcommand', ['feedback', 'import', '--out', 'OUT'], /unknown command "feedback import"/],
    ['a second positional', ['feedback', 'export', 'extra', '--out', 'OUT'], /unexpected argument "extra"/],
    ['feedback after an option', ['--out', 'OUT', 'feedback', 'export'], /"feedback" comes first/],
    [
      'a database of another kind',
      ['feedback', 'export', '--out', 'OUT', '--database', 'mysql://me:secret@db/x'],
      /unsupported scheme "mysql:"/,
    ],
  ])('%s: exit 2, nothing written', async (_name, args, message) => {
    const out = at(`usage-${randomUUID()}`);
    const run = await runCli(
      args.map((a) => (a === 'OUT' ? out : a)),
      { env: { DATABASE_URL: unusedUrl } },
    );
    expect(run.stderr).toMatch(message);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toContain('secret');
    expect(fs.existsSync(out)).toBe(false);
  });

  it('--help: exit 0, the layouts and the exit codes on standard output', async () => {
    const run = await runCli(['feedback', 'export', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: ml-forms feedback export --out DIR/);
    expect(run.stdout).toContain('DIR/imdb/train.jsonl.gz');
    expect(run.stdout).toContain('--force');
  });

  it('a database file that is not there: exit 1, a clear message, no folder made', async () => {
    const out = at('none');
    const run = await runCli(['feedback', 'export', '--out', out, '--database', `sqlite://${at('missing.sqlite')}`]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`no database at ${at('missing.sqlite')}`);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.existsSync(at('missing.sqlite'))).toBe(false);
  });

  it('a file that is not a database: exit 1, a clear message without a stack, nothing written', async () => {
    fs.writeFileSync(at('garbage.sqlite'), Buffer.alloc(8192, 7));
    const out = at('from-garbage');
    const run = await runCli(['feedback', 'export', '--out', out, '--database', `sqlite://${at('garbage.sqlite')}`]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^ml-forms feedback export: cannot read .*garbage\.sqlite.*\(nothing written\)\n$/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('a Postgres server that does not answer: exit 1 within seconds, nothing written', async () => {
    const out = at('from-postgres');
    const run = await runCli(['feedback', 'export', '--out', out, '--database', 'postgres://nobody@127.0.0.1:1/none']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^ml-forms feedback export: cannot read .*\(nothing written\)\n$/);
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('the export layouts', () => {
  it('are named by the models themselves, one path each', () => {
    const paths = MODELS.flatMap((m) => (m.feedbackLayout === undefined ? [] : [m.feedbackLayout.path]));
    expect(paths).toHaveLength(MODELS.length);
    expect(new Set(paths).size).toBe(paths.length);
  });
});
