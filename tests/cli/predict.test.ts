/**
 * The batch command, run for real (spawned) with the real models on small fixtures made here:
 * synthetic cell images, a truncated image, an empty file, an SVG; CSV, JSON Lines, text, gzip and
 * standard input; interruption and --resume; --url against the real server and against a server
 * that answers 503 first.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import request from 'supertest';
import { buildApp, cellImage, realBackend } from '../helpers/app';
import { csvRows, runCli, startCli } from '../helpers/cli';
import { startServer } from '../helpers/server-process';
import { sleep } from '../helpers/async';

jest.setTimeout(90_000);

const MALARIA_HEADER = ['input', 'label', 'confidence', 'score_parasitized', 'score_uninfected', 'error'];
const SENTIMENT_HEADER = ['input', 'label', 'confidence', 'score_negative', 'score_positive', 'error'];

let dir: string;
let cells: string;
const at = (...parts: string[]): string => path.join(dir, ...parts);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-cli-'));
  cells = at('cells');
  for (const sub of ['parasitized', 'uninfected']) fs.mkdirSync(path.join(cells, sub), { recursive: true });
  fs.writeFileSync(path.join(cells, 'parasitized', 'p1.png'), await cellImage('png', { parasite: true }));
  fs.writeFileSync(path.join(cells, 'parasitized', 'p2.jpg'), await cellImage('jpeg', { parasite: true, size: 90 }));
  fs.writeFileSync(path.join(cells, 'uninfected', 'u1.png'), await cellImage('png'));
  fs.writeFileSync(path.join(cells, 'uninfected', 'u2.webp'), await cellImage('webp', { size: 150 }));
  const png = await cellImage('png');
  fs.writeFileSync(path.join(cells, 'broken.png'), png.subarray(0, Math.floor(png.length / 3)));
  fs.writeFileSync(path.join(cells, 'empty.png'), '');
  fs.writeFileSync(path.join(cells, 'drawing.svg'), '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
  fs.writeFileSync(path.join(cells, '.hidden.png'), png); // hidden files are not inputs
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('ml-forms predict malaria <folder>', () => {
  let run: Awaited<ReturnType<typeof runCli>>;
  beforeAll(async () => {
    run = await runCli(['predict', 'malaria', cells]);
  });

  it('writes one CSV row per file, in path order, hidden files skipped', () => {
    const rows = csvRows(run.stdout);
    expect(rows[0]).toEqual(MALARIA_HEADER);
    expect(rows.slice(1).map((r) => path.relative(cells, r[0] as string))).toEqual([
      'broken.png',
      'drawing.svg',
      'empty.png',
      'parasitized/p1.png',
      'parasitized/p2.jpg',
      'uninfected/u1.png',
      'uninfected/u2.webp',
    ]);
  });

  it('turns a truncated image, an SVG and an empty file into error rows with the API codes, goes on, and exits 1', () => {
    const byName = new Map(
      csvRows(run.stdout)
        .slice(1)
        .map((r) => [path.basename(r[0] as string), r]),
    );
    expect(byName.get('broken.png')?.[5]).toMatch(/^invalid_image: .+/);
    expect(byName.get('drawing.svg')?.[5]).toMatch(
      /^unsupported_image_type: The file is not a PNG, JPEG, WebP or GIF image/,
    );
    expect(byName.get('empty.png')?.[5]).toMatch(/^empty_file: /);
    for (const name of ['broken.png', 'drawing.svg', 'empty.png'])
      expect(byName.get(name)?.slice(1, 5)).toEqual(['', '', '', '']);
    expect(run.code).toBe(1);
  });

  it('gives every readable image a label, its confidence and scores summing to 1', () => {
    const good = csvRows(run.stdout).filter((r) => /\/(parasitized|uninfected)\//.test(r[0] as string));
    expect(good).toHaveLength(4);
    for (const [, label, confidence, p, u, error] of good) {
      expect(['parasitized', 'uninfected']).toContain(label);
      expect(Number(confidence)).toBe(Number(label === 'parasitized' ? p : u));
      expect(Number(p) + Number(u)).toBeCloseTo(1, 6);
      expect(error).toBe('');
    }
  });

  it('agrees with the JSON API on every image (label, confidence and scores as the API rounds them)', async () => {
    const { app, registry } = await buildApp({ backend: realBackend() });
    try {
      for (const [file, label, confidence, p, u, error] of csvRows(run.stdout).slice(1)) {
        const res = await request(app)
          .post('/api/predict/malaria')
          .attach('image', fs.readFileSync(file as string), 'x');
        if (error !== '') {
          expect(`${res.body.error.code}: ${res.body.error.message}`).toBe(error);
        } else {
          expect(res.body).toMatchObject({
            label,
            confidence: Number(confidence),
            scores: { parasitized: Number(p), uninfected: Number(u) },
          });
        }
      }
    } finally {
      await registry.close();
    }
  });

  it('writes the same rows with one inference thread (this one, no worker) as with worker threads', async () => {
    const one = await runCli(['predict', 'malaria', cells, '--concurrency', '1']);
    const three = await runCli(['predict', 'malaria', cells, '--concurrency', '3']);
    expect(one.stderr).toMatch(/onnxruntime-node in this thread/);
    expect(three.stderr).toMatch(/3 worker threads/);
    expect([one.code, three.code]).toEqual([run.code, run.code]);
    expect(one.stdout).toBe(run.stdout);
    expect(three.stdout).toBe(run.stdout);
  });

  it('reports accuracy, recall and the confusion matrix from the folder names, over the 4 labelled images', () => {
    expect(run.stderr).toMatch(/Known answers: 4 inputs/);
    expect(run.stderr).toMatch(/^accuracy \d+\.\d\d % \(\d of 4\)$/m);
    expect(run.stderr).toMatch(/^recall +parasitized .+ \(\d of 2\) +uninfected .+ \(\d of 2\)$/m);
    expect(run.stderr).toMatch(
      /confusion matrix \(rows: true label, columns: predicted\)\n +parasitized +uninfected\n +parasitized +\d +\d\n +uninfected +\d +\d/,
    );
  });

  it('prints plain progress and summary lines when standard error is not a terminal', () => {
    expect(run.stderr).toMatch(/^ml-forms predict malaria: 7 images, in process/m);
    expect(run.stderr).toMatch(/^7 rows in standard output, 3 with an error; 7 predicted in [\d.]+ s/m);
    expect(run.stderr).not.toContain('\r'); // no terminal redraws
    expect(run.stderr).not.toContain('\u001b[');
  });
});

describe('ml-forms predict malaria with glob patterns and files', () => {
  it('expands a quoted glob and accepts single files, writing JSON Lines to --out *.jsonl', async () => {
    const out = at('globbed.jsonl');
    const run = await runCli([
      'predict',
      'malaria',
      path.join(cells, '**', '*.png'),
      path.join(cells, 'uninfected', 'u2.webp'),
      '--out',
      out,
      '--quiet',
    ]);
    expect(run.stdout).toBe('');
    const records = fs
      .readFileSync(out, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => path.relative(cells, r.input as string))).toEqual([
      'broken.png',
      'empty.png',
      'parasitized/p1.png',
      'uninfected/u1.png',
      'uninfected/u2.webp',
    ]);
    expect(records[0]).toEqual({
      input: path.join(cells, 'broken.png'),
      error: { code: 'invalid_image', message: expect.any(String) },
    });
    expect(records[2]).toEqual({
      input: path.join(cells, 'parasitized', 'p1.png'),
      label: expect.any(String),
      confidence: expect.any(Number),
      scores: expect.any(Object),
    });
    expect(run.code).toBe(1);
  });

  it('exits 0 when every input got a prediction, and --quiet leaves only the known-answers report', async () => {
    const run = await runCli(['predict', 'malaria', path.join(cells, 'uninfected'), '--quiet']);
    expect(run.code).toBe(0);
    expect(csvRows(run.stdout)).toHaveLength(3);
    expect(run.stderr).toMatch(/^Known answers: 2 inputs\n/);
    expect(run.stderr).not.toMatch(/progress|rows in/);
  });
});

describe('ml-forms predict sentiment / regression on text inputs', () => {
  it('reads a CSV column (--field), names rows by --id-field, keeps quoted commas and line breaks, and reports accuracy from --label-field', async () => {
    const csv = at('reviews.csv');
    fs.writeFileSync(
      csv,
      '\uFEFFid,text,label\r\n' +
        'a1,"A wonderful, moving film. I loved every minute of it.",positive\r\n' +
        'a2,"Dull and far too long.\nThe worst acting I have seen, a waste of time.",negative\r\n' +
        '\r\n' +
        'a3,"   ",negative\r\n',
    );
    const run = await runCli([
      'predict',
      'sentiment',
      csv,
      '--field',
      'text',
      '--id-field',
      'id',
      '--label-field',
      'label',
    ]);
    const rows = csvRows(run.stdout);
    expect(rows[0]).toEqual(SENTIMENT_HEADER);
    expect(rows.slice(1).map((r) => [r[0], r[1]])).toEqual([
      ['a1', 'positive'],
      ['a2', 'negative'],
      ['a3', ''],
    ]);
    expect(rows[3]?.[5]).toBe('empty_review: The review is empty. Paste a movie review.');
    expect(run.stderr).toMatch(/1 got an error instead of a prediction and are left out/);
    expect(run.stderr).toMatch(/^accuracy 100\.00 % \(2 of 2\)$/m);
    expect(run.code).toBe(1);
  });

  it('reads gzipped JSON Lines by their bytes; a line that is not JSON becomes an invalid_json row; rows are named by line number', async () => {
    const gz = at('reviews.jsonl.gz');
    fs.writeFileSync(
      gz,
      zlib.gzipSync('{"review": "Great fun, I loved it."}\n\nnot json\n{"review": "Boring, awful and slow."}\n'),
    );
    const run = await runCli(['predict', 'sentiment', gz, '--out', at('reviews-out.csv'), '--quiet']);
    const rows = csvRows(fs.readFileSync(at('reviews-out.csv'), 'utf8'));
    expect(rows.slice(1).map((r) => [r[0], r[1], r[5]])).toEqual([
      ['1', 'positive', ''],
      ['3', '', 'invalid_json: Line 3 is not valid JSON.'],
      ['4', 'negative', ''],
    ]);
    expect(run.code).toBe(1);
  });

  it('reads numbers from standard input, one a line, with the API codes for a bad one', async () => {
    const run = await runCli(['predict', 'regression', '-'], { input: '5\n-2.5\n\nabc\n' });
    const rows = csvRows(run.stdout);
    expect(rows[0]).toEqual(['input', 'value', 'error']);
    expect(rows.slice(1).map((r) => r[0])).toEqual(['1', '2', '4']);
    expect(Number(rows[1]?.[1])).toBeGreaterThan(Number(rows[2]?.[1])); // the line rises
    expect(rows[3]?.[2]).toBe('invalid_x: "x" must be a number, like 5 or -2.5.');
    expect(run.code).toBe(1);
  });

  it('reads a .txt file and standard input CSV in one run, naming rows <source>:<line>', async () => {
    fs.writeFileSync(at('one.txt'), 'A good film.\n');
    const run = await runCli(['predict', 'sentiment', at('one.txt'), '-', '--quiet'], {
      input: 'review,stars\nA superb film,5\n',
    });
    expect(
      csvRows(run.stdout)
        .slice(1)
        .map((r) => r[0]),
    ).toEqual([`${at('one.txt')}:1`, 'stdin:2']);
    expect(run.code).toBe(0);
  });

  it('prints a progress line every interval when standard error is not a terminal', async () => {
    const lines = Array.from({ length: 400 }, (_, i) => `Review number ${i}: a fine film with a good cast.`).join('\n');
    const run = await runCli(['predict', 'sentiment', '-'], {
      input: lines,
      env: { ML_FORMS_PROGRESS_INTERVAL_MS: '1' },
    });
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/^progress: [\d,]+ rows, [\d,]+\/s, ETA .+, 0 errors$/m);
    expect(csvRows(run.stdout)).toHaveLength(401);
  });
});

describe('interruption and --resume', () => {
  it('Ctrl-C writes whole rows done so far and exits 130; --resume completes the file with exactly one row per input', async () => {
    const out = at('resume.csv');
    const reviews = Array.from(
      { length: 600 },
      (_, i) => `Review ${i + 1}: ${i % 2 ? 'a dreadful, boring film' : 'a lovely, warm film'}.`,
    );
    // First run: half the input arrives, then Ctrl-C while it waits for more.
    const first = startCli(['predict', 'sentiment', '-', '--out', out]);
    first.child.stdin.write(reviews.slice(0, 300).join('\n') + '\n');
    for (let i = 0; i < 600 && !(fs.existsSync(out) && fs.readFileSync(out, 'utf8').split('\n').length > 50); i++) {
      await sleep(50);
    }
    first.child.kill('SIGINT');
    const interrupted = await first.done;
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toMatch(/interrupted: [\d,]+ rows in .*resume\.csv/);
    expect(interrupted.stderr).toMatch(/run the same command with --resume/);
    const partial = fs.readFileSync(out, 'utf8');
    expect(partial.endsWith('\n')).toBe(true);
    const done = csvRows(partial).length - 1;
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThanOrEqual(300);

    const second = await runCli(['predict', 'sentiment', '-', '--out', out, '--resume'], {
      input: reviews.join('\n') + '\n',
    });
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(new RegExp(`600 rows in .*resume\\.csv \\(${done} already there\\)`));
    const ids = csvRows(fs.readFileSync(out, 'utf8'))
      .slice(1)
      .map((r) => r[0]);
    expect(ids).toEqual(reviews.map((_, i) => String(i + 1)));
  });

  it('drops a row cut short by a hard kill before appending', async () => {
    const out = at('cut.csv');
    fs.writeFileSync(out, 'input,value,error\n1,18.78,\n2,22.2');
    const run = await runCli(['predict', 'regression', '-', '--out', out, '--resume', '--quiet'], {
      input: '5\n6\n7\n',
    });
    expect(run.code).toBe(0);
    const rows = csvRows(fs.readFileSync(out, 'utf8'));
    expect(rows.map((r) => r[0])).toEqual(['input', '1', '2', '3']);
    expect(rows[1]).toEqual(['1', '18.78', '']); // kept as written, not predicted again
  });

  it('refuses to resume a file written for another model', async () => {
    const out = at('other.csv');
    fs.writeFileSync(out, 'input,value,error\n1,2,\n');
    const run = await runCli(['predict', 'sentiment', '-', '--out', out, '--resume'], { input: 'Nice.\n' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/written for another model/);
  });
});

describe('usage errors: exit 2 with a one-line hint', () => {
  it.each([
    [['predict', 'weather', 'x.csv'], /unknown model "weather"/],
    [['predict', 'sentiment'], /give at least one input/],
    [['predict'], /missing model/],
    [['classify', 'malaria', 'x'], /unknown command "classify"/],
    [['predict', 'sentiment', '-', '--resume'], /--resume needs --out/],
    [['predict', 'sentiment', '-', '--colour'], /Unknown option '--colour'/],
    [['predict', 'sentiment', '-', '--concurrency', '0'], /--concurrency must be a whole number/],
    [['predict', 'malaria', '/nonexistent/cells'], /no such file or folder: \/nonexistent\/cells/],
    [['predict', 'malaria', '/nonexistent/**/*.png'], /no files match/],
    [['predict', 'malaria', '/tmp', '--field', 'x'], /apply to .csv and .jsonl inputs, not to images/],
    [['predict', 'sentiment', 'reviews.parquet'], /not a .csv, .jsonl or .txt file/],
    [['predict', 'sentiment', '-', '--url', 'localhost:3000'], /--url must be an http/],
  ])('%j', async (args, message) => {
    const run = await runCli(args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toMatch(/^ml-forms: .+\nRun "ml-forms predict --help" for usage\.\n$/);
  });

  it('names the columns a CSV has when --field is not one of them', async () => {
    fs.writeFileSync(at('cols.csv'), 'id,text\n1,Good.\n');
    const run = await runCli(['predict', 'sentiment', at('cols.csv')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/has no column "review" \(its columns: id, text\); choose one with --field/);
  });

  it('--help prints the usage and exits 0', async () => {
    const run = await runCli(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: ml-forms predict <model> <input…> \[options\]/);
    expect(run.stdout).toMatch(/input,label,confidence,score_<label>…,error/);
  });
});

describe('--url: the inputs sent to a running ml-forms JSON API', () => {
  it('writes the same rows as the in-process run, errors included', async () => {
    const server = await startServer();
    try {
      const [remote, local] = await Promise.all([
        runCli(['predict', 'malaria', cells, '--url', server.url, '--concurrency', '3']),
        runCli(['predict', 'malaria', cells]),
      ]);
      expect(remote.stderr).toMatch(new RegExp(`the JSON API at ${server.url}`));
      expect(remote.stdout).toBe(local.stdout);
      expect(remote.code).toBe(1);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  it('retries a 503, waiting as Retry-After says, then writes the answer', async () => {
    let predictCalls = 0;
    const fake = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/api/models') return res.end(JSON.stringify({ models: [{ name: 'regression', labels: [] }] }));
      predictCalls++;
      if (predictCalls <= 2) {
        res.writeHead(503, { 'retry-after': '0' });
        return res.end(JSON.stringify({ error: { code: 'overloaded', message: 'Busy.' } }));
      }
      res.end(JSON.stringify({ model: 'regression', version: '1', value: 18.78, statement: '…' }));
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    try {
      const { port } = fake.address() as { port: number };
      const run = await runCli(['predict', 'regression', '-', '--url', `http://127.0.0.1:${port}`, '--quiet'], {
        input: '5\n',
      });
      expect(run.code).toBe(0);
      expect(csvRows(run.stdout)).toEqual([
        ['input', 'value', 'error'],
        ['1', '18.78', ''],
      ]);
      expect(predictCalls).toBe(3);
    } finally {
      fake.close();
    }
  });

  it('stops with exit 2 when nothing answers at the URL', async () => {
    const run = await runCli(['predict', 'regression', '-', '--url', 'http://127.0.0.1:9'], { input: '5\n' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/cannot use http:\/\/127\.0\.0\.1:9 as an ml-forms API/);
  });
});
