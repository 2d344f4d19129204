/**
 * Sharded batch runs with the real command (issue 27): `ml-forms predict --shard I/N` as separate
 * processes, one killed halfway and rerun, one run twice at the same time, then `ml-forms merge`,
 * compared row for row and report for report with the unsharded run; adding inputs moves none of
 * the existing ones to another shard. The 2,000 cells come from ../shared/data (skipped, saying
 * so, where it is absent); the text rows and the assignment rules need no data.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listImages } from '../../src/batch/images';
import type { InputItem } from '../../src/batch/inputs';
import { readTextInputs } from '../../src/batch/text-inputs';
import { ShardTally, partPath, shardSpec } from '../../src/cli/shard';
import { ROOT, type CliResult, runCli, startCli } from '../helpers/cli';

jest.setTimeout(300_000);

const DATA = path.join(ROOT, '..', 'shared', 'data', 'malaria');
const haveData = fs.existsSync(path.join(DATA, 'parasitized')) && fs.existsSync(path.join(DATA, 'uninfected'));

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-shard-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The known-answers report at the end of a run's standard error. */
const report = (stderr: string): string => stderr.slice(stderr.indexOf('Known answers:'));

/** The inputs a part holds, by the `input` of its rows. */
function partInputs(file: string): string[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{"at"'))
    .map((l) => (JSON.parse(l) as { row: { input: string } }).row.input);
}

/** Copies `n` cells of each class, from the `from`-th in name order, into `folder`. */
function copyCells(folder: string, from: number, n: number): void {
  for (const label of ['parasitized', 'uninfected']) {
    fs.mkdirSync(path.join(folder, label), { recursive: true });
    for (const name of fs
      .readdirSync(path.join(DATA, label))
      .sort()
      .slice(from, from + n))
      fs.copyFileSync(path.join(DATA, label, name), path.join(folder, label, name));
  }
}

describe('the --shard option', () => {
  it('takes I/N, or --shards N with the index from JOB_COMPLETION_INDEX, and refuses what does not fit', () => {
    expect(shardSpec('1/4', undefined, {})).toEqual({ index: 1, count: 4 });
    expect(shardSpec(undefined, '4', { JOB_COMPLETION_INDEX: '3' })).toEqual({ index: 3, count: 4 });
    expect(shardSpec(undefined, undefined, { JOB_COMPLETION_INDEX: '3' })).toBeUndefined();
    expect(() => shardSpec('4/4', undefined, {})).toThrow(/not below the number of shards 4/);
    expect(() => shardSpec('1-4', undefined, {})).toThrow(/--shard takes I\/N/);
    expect(() => shardSpec(undefined, '4', {})).toThrow(/JOB_COMPLETION_INDEX .* not set/);
    expect(() => shardSpec('1/4', '3', {})).toThrow(/disagree/);
  });

  it('puts the part next to --out: results.csv → results.part-2-of-4.jsonl', () => {
    expect(partPath('/x/results.csv', { index: 2, count: 4 })).toBe('/x/results.part-2-of-4.jsonl');
  });

  it('assigns rows by their id, else their text: rows added in the middle or moved move no other row', async () => {
    const shardsOf = async (file: string, idField?: string): Promise<Map<string, number>> => {
      const found = new Map<string, number>();
      for (let index = 0; index < 4; index++) {
        const tally = new ShardTally({ index, count: 4 });
        for await (const item of readTextInputs([file], { field: 'review', idField }))
          if (tally.take(item) !== undefined)
            found.set(`${idField === undefined ? '' : item.id}|${String(item.value)}`, index);
      }
      return found;
    };
    const rows = Array.from({ length: 200 }, (_, i) => `r${i},review number ${i % 150}`); // 50 duplicate texts
    const before = path.join(dir, 'before.csv');
    const after = path.join(dir, 'after.csv');
    fs.writeFileSync(before, ['id,review', ...rows].join('\n'));
    const added = Array.from({ length: 60 }, (_, i) => `n${i},a new review ${i}`);
    fs.writeFileSync(
      after,
      ['id,review', ...added.slice(0, 30), ...rows.slice(100), ...added.slice(30), ...rows.slice(0, 100)].join('\n'),
    );
    for (const idField of ['id', undefined]) {
      const a = await shardsOf(before, idField);
      const b = await shardsOf(after, idField);
      expect(a.size).toBe(idField === undefined ? 150 : 200);
      for (const [key, shard] of a) expect([key, b.get(key)]).toEqual([key, shard]);
      expect(new Set(a.values()).size).toBe(4); // all four shards get inputs
    }
  });

  it('puts every input in exactly one shard', async () => {
    const items: InputItem[] = Array.from({ length: 1000 }, (_, i) => ({ id: String(i), value: `text ${i % 700}` }));
    const seen = new Array<number>(items.length).fill(0);
    for (let index = 0; index < 7; index++) {
      const tally = new ShardTally({ index, count: 7 });
      for (const item of items) {
        const at = tally.take(item);
        if (at !== undefined) seen[at] = (seen[at] ?? 0) + 1;
      }
    }
    expect(seen.every((n) => n === 1)).toBe(true);
  });
});

describe('text rows in 3 shards (JOB_COMPLETION_INDEX, parts on standard output) merge into the unsharded output', () => {
  it('same rows in the same order, same report', async () => {
    const file = path.join(dir, 'reviews.csv');
    const lines = Array.from({ length: 45 }, (_, i) =>
      i % 2 === 0 ? `"A wonderful, moving film ${i % 20}",positive` : `"Dull and far too long ${i % 20}",negative`,
    );
    fs.writeFileSync(file, ['review,truth', ...lines].join('\n'));
    const args = ['predict', 'sentiment', file, '--label-field', 'truth', '--concurrency', '1'];
    const whole = await runCli(args);
    expect(whole.code).toBe(0);
    const parts: string[] = [];
    for (let i = 0; i < 3; i++) {
      const run = await runCli([...args, '--shards', '3'], { env: { JOB_COMPLETION_INDEX: String(i) } });
      expect(run.code).toBe(0);
      expect(run.stderr).toContain(`ml-forms predict sentiment shard ${i}/3`);
      parts.push(path.join(dir, `reviews.part-${i}.jsonl`));
      fs.writeFileSync(parts[i] as string, run.stdout);
    }
    const merged = await runCli(['merge', ...parts]);
    expect(merged.code).toBe(0);
    expect(merged.stdout).toBe(whole.stdout);
    expect(report(merged.stderr)).toBe(report(whole.stderr));
    expect(merged.stderr).toMatch(/3 parts, 45 rows in standard output/);
  });
});

(haveData ? describe : describe.skip)(
  `2,000 cells of ${DATA} in 4 shards${haveData ? '' : ' (SKIPPED: the data folder is absent)'}`,
  () => {
    let cells: string;
    let whole: CliResult;
    const shardArgs = (i: number, out: string): string[] => [
      'predict',
      'malaria',
      cells,
      '--out',
      out,
      '--shard',
      `${i}/4`,
      '--concurrency',
      '1',
    ];

    beforeAll(async () => {
      cells = path.join(dir, 'cells');
      copyCells(cells, 0, 1000);
      whole = await runCli(['predict', 'malaria', cells, '--out', path.join(dir, 'whole.csv'), '--concurrency', '2']);
      expect(whole.code).toBe(0);
    });

    it('one shard killed halfway and rerun, one run twice at once: the merge equals the unsharded run, row for row, with the same report', async () => {
      const out = path.join(dir, 'sharded.csv');
      const env = { ML_FORMS_PROGRESS_INTERVAL_MS: '100' };
      const killed = startCli(shardArgs(1, out), env);
      const others = [0, 2, 3, 3].map((i) => startCli(shardArgs(i, out), env));
      // Kill shard 1 (SIGKILL: no clean-up) once it has written half its rows.
      let stderr = '';
      await new Promise<void>((resolve) => {
        void killed.done.then(() => resolve()); // ended before half: the expectation below fails
        killed.child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
          const m = [...stderr.matchAll(/progress, shard 1\/4: (\d+)\/(\d+)/g)].pop();
          if (m !== undefined && Number(m[1]) * 2 >= Number(m[2])) {
            killed.child.kill('SIGKILL');
            resolve();
          }
        });
      });
      expect((await killed.done).signal).toBe('SIGKILL');
      expect(fs.existsSync(partPath(out, { index: 1, count: 4 }))).toBe(false); // nothing that looks whole
      expect(fs.readdirSync(dir).some((f) => f.startsWith('sharded.part-1-of-4.jsonl.tmp-'))).toBe(true);
      const results = await Promise.all(others.map((o) => o.done));
      for (const r of results) expect([r.code, r.stderr]).toEqual([0, expect.any(String)]);
      const parts = [0, 1, 2, 3].map((index) => partPath(out, { index, count: 4 }));

      const early = await runCli(['merge', ...parts, '--out', path.join(dir, 'early.csv')]);
      expect(early.code).toBe(2);
      expect(early.stderr).toMatch(/shard 1\/4: .*(missing|cannot be read)/);
      expect(fs.existsSync(path.join(dir, 'early.csv'))).toBe(false);

      const rerun = await runCli(shardArgs(1, out));
      expect(rerun.code).toBe(0);
      const merged = await runCli(['merge', ...parts, '--out', path.join(dir, 'merged.csv')]);
      expect(merged.code).toBe(0);
      expect(merged.stderr).toMatch(/4 parts, 2,000 rows in /);
      const mergedText = fs.readFileSync(path.join(dir, 'merged.csv'), 'utf8');
      const wholeText = fs.readFileSync(path.join(dir, 'whole.csv'), 'utf8');
      expect(mergedText.split('\n')).toHaveLength(2002); // header, 2,000 rows, the final line break
      expect(mergedText).toBe(wholeText);
      expect(report(merged.stderr)).toBe(report(whole.stderr));
      expect(report(whole.stderr)).toMatch(/^Known answers: 2,000 inputs\naccuracy/);
      // Every shard got a fair share: a hash, not a range.
      for (const p of parts) expect(partInputs(p).length).toBeGreaterThan(350);
    });

    it('adding 100 new files moves no existing input to another shard', async () => {
      const before = path.join(dir, 'sharded.csv');
      const after = path.join(dir, 'added.csv');
      const shardOf = (out: string): Map<string, number> => {
        const found = new Map<string, number>();
        for (let index = 0; index < 4; index++)
          for (const input of partInputs(partPath(out, { index, count: 4 }))) found.set(input, index);
        return found;
      };
      const old = shardOf(before);
      expect(old.size).toBe(2000);
      copyCells(cells, 1000, 50);
      const runs = await Promise.all([0, 1, 2, 3].map((i) => runCli(shardArgs(i, after))));
      for (const r of runs) expect(r.code).toBe(0);
      const now = shardOf(after);
      expect(now.size).toBe(2100);
      const moved = [...old].filter(([input, shard]) => now.get(input) !== shard);
      expect(moved).toEqual([]);
      // The listing's order plays no part: the same assignment from the folders listed the other way round.
      const listed = await listImages([cells], ['parasitized', 'uninfected']);
      const reversed = new ShardTally({ index: 0, count: 4 });
      const zero = new Set(
        [...listed]
          .reverse()
          .filter((item) => reversed.take(item) !== undefined)
          .map((item) => item.id),
      );
      expect(zero).toEqual(new Set([...now].filter(([, s]) => s === 0).map(([input]) => input)));
      // Parts of the two runs are not merged together: they read different inputs.
      const mixed = await runCli([
        'merge',
        partPath(before, { index: 0, count: 4 }),
        ...[1, 2, 3].map((index) => partPath(after, { index, count: 4 })),
      ]);
      expect(mixed.code).toBe(2);
      expect(mixed.stderr).toMatch(/shard 0\/4: .*sharded\.part-0-of-4\.jsonl read other inputs/);
    });
  },
);
