/**
 * `ml-forms merge` refusing what it must not merge (issue 27, must hold 3), with parts written by
 * the real command: a missing part, a part cut short (mid-line, at a line end, a row taken out), a
 * part from another model version (MODELS_DIR with the same graph under version 4), another model,
 * other options, a part given twice and a file that is no part. Each is exit 2 naming the shard and
 * the file, with no output written; the good parts merge into the unsharded run's output.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cellImage } from '../helpers/cell-image';
import { ROOT, runCli, startCli } from '../helpers/cli';
import { startServer } from '../helpers/server-process';
import { partPath } from '../../src/cli/shard';

jest.setTimeout(120_000);

let dir: string;
let cells: string;
let parts: string[];
let out: string;
const at = (...p: string[]): string => path.join(dir, ...p);
const spec = (index: number): { index: number; count: number } => ({ index, count: 3 });

/** Merges `files` and expects a refusal that says `expected`, with nothing written. */
async function refused(files: string[], expected: RegExp): Promise<void> {
  const target = at('refused.csv');
  const run = await runCli(['merge', ...files, '--out', target]);
  expect(run.stderr).toMatch(expected);
  expect(run.code).toBe(2);
  expect(fs.existsSync(target)).toBe(false);
  expect(fs.readdirSync(dir).filter((f) => f.startsWith('refused.csv'))).toEqual([]);
}

/** A copy of parts[i] changed by `edit`, under a new name. */
function edited(i: number, edit: (text: string) => string): string {
  const file = at(`edited-${i}-${Math.random().toString(36).slice(2)}.jsonl`);
  fs.writeFileSync(file, edit(fs.readFileSync(parts[i] as string, 'utf8')));
  return file;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-merge-'));
  cells = at('cells');
  for (const sub of ['parasitized', 'uninfected']) fs.mkdirSync(path.join(cells, sub), { recursive: true });
  for (let i = 0; i < 12; i++) {
    const parasite = i % 2 === 0;
    fs.writeFileSync(
      path.join(cells, parasite ? 'parasitized' : 'uninfected', `c${i}.png`),
      await cellImage('png', { parasite, size: 80 + 4 * i }),
    );
  }
  fs.writeFileSync(path.join(cells, 'empty.png'), ''); // an error row goes through a merge too
  out = at('run.csv');
  parts = [0, 1, 2].map((i) => partPath(out, spec(i)));
  const runs = await Promise.all(
    [0, 1, 2].map((i) =>
      runCli(['predict', 'malaria', cells, '--out', out, '--shard', `${i}/3`, '--concurrency', '1']),
    ),
  );
  // The empty file's row is an error row: exit 1 for the one shard that has it, 0 for the others.
  expect(runs.map((r) => r.code).sort()).toEqual([0, 0, 1]);
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('merges the three parts into the unsharded output, exit 1 as the unsharded run (an error row)', async () => {
  const whole = await runCli(['predict', 'malaria', cells, '--out', at('whole.csv'), '--concurrency', '1']);
  const merged = await runCli(['merge', ...parts, '--out', at('merged.csv')]);
  expect([merged.code, whole.code]).toEqual([1, 1]);
  expect(fs.readFileSync(at('merged.csv'), 'utf8')).toBe(fs.readFileSync(at('whole.csv'), 'utf8'));
  expect(merged.stderr).toMatch(/3 parts, 13 rows in .*merged\.csv, 1 with an error/);
  expect(merged.stderr.slice(merged.stderr.indexOf('Known answers'))).toBe(
    whole.stderr.slice(whole.stderr.indexOf('Known answers')),
  );
});

it('merges shards that sent their inputs to a running server (--url) into the same output, each reporting its throughput', async () => {
  const server = await startServer();
  try {
    const remote = at('remote.csv');
    const runs = await Promise.all(
      [0, 1, 2].map((i) =>
        runCli([
          'predict',
          'malaria',
          cells,
          '--url',
          server.url,
          '--out',
          remote,
          '--shard',
          `${i}/3`,
          '--concurrency',
          '2',
        ]),
      ),
    );
    for (const [i, r] of runs.entries())
      expect(r.stderr).toMatch(
        new RegExp(`shard ${i}/3: \\d+ rows in .*remote\\.part-${i}-of-3\\.jsonl.*predicted in [\\d.]+ s \\(\\d+/s\\)`),
      );
    const merged = await runCli([
      'merge',
      ...[0, 1, 2].map((i) => partPath(remote, spec(i))),
      '--out',
      at('remote-merged.csv'),
    ]);
    expect(merged.code).toBe(1);
    expect(fs.readFileSync(at('remote-merged.csv'), 'utf8')).toBe(fs.readFileSync(at('whole.csv'), 'utf8'));
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
});

it('names a missing shard', async () => {
  await refused([parts[0] as string, parts[2] as string], /shard 1\/3: missing/);
});

it('names a part cut short in the middle of a line, at a line end, or with a row taken out', async () => {
  const midLine = edited(1, (t) => t.slice(0, Math.floor(t.length * 0.6)));
  await refused(
    [parts[0] as string, midLine, parts[2] as string],
    /shard 1\/3: .*edited-1-.*\.jsonl is (cut short|incomplete)/,
  );
  const lineEnd = edited(2, (t) => t.split('\n').slice(0, -2).join('\n') + '\n'); // the end line dropped
  await refused(
    [parts[0] as string, parts[1] as string, lineEnd],
    /shard 2\/3: .*edited-2-.* is incomplete: it has no end line/,
  );
  const lines = fs.readFileSync(parts[0] as string, 'utf8').split('\n');
  expect(lines.length).toBeGreaterThan(3); // header, a row at least, the end line
  const rowOut = edited(0, (t) =>
    t
      .split('\n')
      .filter((_, i) => i !== 1)
      .join('\n'),
  );
  await refused(
    [rowOut, parts[1] as string, parts[2] as string],
    /shard 0\/3: .*edited-0-.* is truncated: its end line says \d+ rows, it has \d+/,
  );
});

it('names a part from another model version', async () => {
  const models = at('models-v4');
  fs.cpSync(path.join(ROOT, 'models'), models, { recursive: true });
  const card = JSON.parse(fs.readFileSync(path.join(models, 'malaria', 'card.json'), 'utf8')) as { version: string };
  // The card's graph under a version no folder has yet: the same model, another version.
  const next = String(
    Math.max(...fs.readdirSync(path.join(models, 'malaria')).map(Number).filter(Number.isInteger)) + 1,
  );
  fs.renameSync(path.join(models, 'malaria', card.version), path.join(models, 'malaria', next));
  fs.writeFileSync(path.join(models, 'malaria', 'card.json'), JSON.stringify({ ...card, version: next }));
  const v4 = at('v4.csv');
  const run = await runCli(['predict', 'malaria', cells, '--out', v4, '--shard', '1/3', '--concurrency', '1'], {
    env: { MODELS_DIR: models },
  });
  expect(run.stderr).not.toMatch(/Error|cannot/);
  await refused(
    [parts[0] as string, partPath(v4, spec(1)), parts[2] as string],
    new RegExp(
      `shard 1/3: .*v4\\.part-1-of-3\\.jsonl is from malaria version ${next}, the other parts from version ${card.version}`,
    ),
  );
});

it('names a part of another model, of other options, of another shard count, given twice, or no part at all', async () => {
  const reviews = at('reviews.csv');
  fs.writeFileSync(reviews, 'review\nA fine film\nA poor film\nGood\n');
  const other = at('other.csv');
  const model = await runCli(['predict', 'sentiment', reviews, '--out', other, '--shard', '2/3', '--concurrency', '1']);
  expect(model.code).toBe(0);
  await refused(
    [parts[0] as string, parts[1] as string, partPath(other, spec(2))],
    /shard 2\/3: .*is from the model sentiment, the other parts from malaria/,
  );

  // The same folder named another way: the rows' input cells would differ.
  const relative = at('rel.csv');
  const opts = await runCli([
    'predict',
    'malaria',
    path.relative(ROOT, cells),
    '--out',
    relative,
    '--shard',
    '0/3',
    '--concurrency',
    '1',
  ]);
  expect(opts.code).not.toBe(2);
  await refused(
    [partPath(relative, spec(0)), parts[1] as string, parts[2] as string],
    /shard 0\/3: .*rel\.part-0-of-3\.jsonl was run with other options/,
  );

  const two = at('two.csv');
  const halves = await runCli(['predict', 'malaria', cells, '--out', two, '--shard', '1/2', '--concurrency', '1']);
  expect(halves.code).not.toBe(2);
  await refused(
    [...parts, partPath(two, { index: 1, count: 2 })],
    /shard 1\/2: .*is one of 2 shards, the other parts of 3/,
  );

  await refused([...parts, parts[1] as string], /shard 1\/3: given twice/);
  await refused([...parts, reviews], /reviews\.csv is not a part written by ml-forms predict --shard/);
  const none = await runCli(['merge', '--out', at('refused.csv')]);
  expect(none.code).toBe(2);
  expect(none.stderr).toMatch(/give the parts to merge/);
});

it('writes no part when a shard is interrupted (Ctrl-C), and says to run it again', async () => {
  const many = at('many');
  fs.mkdirSync(many);
  const png = await cellImage('png', { size: 120 });
  for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(many, `c${i}.png`), png);
  const target = at('int.csv');
  const run = startCli(['predict', 'malaria', many, '--out', target, '--shard', '0/1', '--concurrency', '1'], {
    ML_FORMS_PROGRESS_INTERVAL_MS: '50',
  });
  await new Promise<void>((resolve) => {
    void run.done.then(() => resolve());
    run.child.stderr.on('data', (d: Buffer) => {
      if (/progress, shard 0\/1: [1-9]/.test(d.toString())) {
        run.child.kill('SIGINT');
        resolve();
      }
    });
  });
  const result = await run.done;
  expect(result.code).toBe(130);
  expect(result.stderr).toMatch(/no part was written: run the same command again/);
  expect(fs.readdirSync(dir).filter((f) => f.startsWith('int.part-0-of-1'))).toEqual([]);
});
