/**
 * Issue 26, the source `batch`: the batch command run in process logs its rows in the app's
 * prediction log when DATABASE_URL names one (a Job pointed at the app's database), with each
 * input's numbers and never the input; without DATABASE_URL, or with PREDICTION_LOG=0, it writes
 * nowhere but its output. The real command (spawned), the real models.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { cellImage } from '../helpers/app';
import { csvRows, runCli } from '../helpers/cli';

jest.setTimeout(90_000);

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-batch-log-'));
});

interface Line {
  model: string;
  source: string;
  label: string;
  confidence: number;
  features: Record<string, number>;
}

function logIn(file: string): { lines: Line[]; held: number } {
  const db = new Database(file, { readonly: true });
  try {
    const rows = db.prepare('SELECT model, source, label, confidence, features FROM predictions').all() as (Omit<Line, 'features'> & { features: string })[];
    const held = (db.prepare('SELECT COUNT(*) AS n FROM held_inputs').get() as { n: number }).n;
    return { lines: rows.map((r) => ({ ...r, features: JSON.parse(r.features) as Record<string, number> })), held };
  } finally {
    db.close();
  }
}

describe('the batch command and the prediction log', () => {
  it('with DATABASE_URL: each review a line, source batch, with the label written out, its length and unknown words; no input held', async () => {
    const reviews = ['A warm, funny and beautifully acted film. I loved it.', 'A dull, badly written mess.', 'qzxv wqzx vvzq'];
    const input = path.join(dir, 'reviews.jsonl');
    fs.writeFileSync(input, reviews.map((review, i) => JSON.stringify({ id: `r${i}`, review })).join('\n') + '\n');
    const file = path.join(dir, 'reviews.sqlite');
    const res = await runCli(['predict', 'sentiment', input, '--id-field', 'id'], { env: { DATABASE_URL: `sqlite://${file}` } });
    expect(res.code).toBe(0);
    expect(res.stderr).toContain(`prediction log on SQLite`);
    const rows = csvRows(res.stdout).slice(1);
    const { lines, held } = logIn(file);
    expect(held).toBe(0);
    expect(lines).toHaveLength(3);
    for (const [i, review] of reviews.entries()) {
      const line = lines.find((l) => l.features.length === review.length);
      const row = rows.find((r) => r[0] === `r${i}`);
      expect(line).toMatchObject({ model: 'sentiment', source: 'batch', label: row?.[1], confidence: Number(row?.[2]) });
    }
    expect(lines.find((l) => l.features.length === reviews[2]!.length)?.features.unknown_share).toBe(1);
  });

  it('with DATABASE_URL: each cell a line with its width and height', async () => {
    const cells = path.join(dir, 'cells');
    fs.mkdirSync(cells);
    fs.writeFileSync(path.join(cells, 'a.png'), await cellImage('png', { size: 90 }));
    fs.writeFileSync(path.join(cells, 'b.png'), await cellImage('png', { size: 150, parasite: true }));
    const file = path.join(dir, 'cells.sqlite');
    const res = await runCli(['predict', 'malaria', cells, '--quiet'], { env: { DATABASE_URL: `sqlite://${file}` } });
    expect(res.code).toBe(0);
    expect(res.stderr).not.toContain('prediction log'); // --quiet: where the log goes is not said
    const sizes = await Promise.all(['a.png', 'b.png'].map(async (f) => (await sharp(path.join(cells, f)).metadata()).width));
    const { lines } = logIn(file);
    expect(lines.map((l) => [l.model, l.source, l.features.width, l.features.height]).sort()).toEqual(
      sizes.map((w) => ['malaria', 'batch', w, w]).sort(),
    );
  });

  it('without DATABASE_URL, or with PREDICTION_LOG=0, nothing is logged', async () => {
    const input = path.join(dir, 'one.txt');
    fs.writeFileSync(input, 'A fine film.\n');
    const file = path.join(dir, 'off.sqlite');
    const off = await runCli(['predict', 'sentiment', input], { env: { DATABASE_URL: `sqlite://${file}`, PREDICTION_LOG: '0' } });
    expect(off.code).toBe(0);
    expect(fs.existsSync(file)).toBe(false);
    const unset = await runCli(['predict', 'sentiment', input]);
    expect(unset.code).toBe(0);
    expect(unset.stderr).not.toContain('prediction log');
    expect(csvRows(unset.stdout)).toHaveLength(2);
  });
});
