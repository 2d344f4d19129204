/**
 * The batch command against the real data (`npm run check:batch`; CI runs it when ../shared/data is
 * there). Exits 1 if any check fails.
 *
 *  1. 2,000 held-out cell images (1,000 per class, in parasitized/ and uninfected/ folders):
 *     the in-process batch agrees with the JSON API of the real server on every image (label,
 *     confidence and scores as the API rounds them), its accuracy report equals the accuracy
 *     computed from the API's answers, and `--url` to that server writes the same file.
 *  2. The 25,000 IMDB training reviews from train.jsonl.gz stream through with flat memory: peak
 *     RSS is measured, and a file with the reviews twice must not need more than 10 % + 10 MB more.
 *
 * Usage: npm run check:batch [-- --data ../shared/data]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { mb, samplePeakMemory } from '../bench/proc';
import { CsvRecords } from '../src/batch/csv-records';
import { startCli } from '../tests/helpers/cli';
import { startServer } from '../tests/helpers/server-process';
import { dataDir } from './args';
import { forEach } from './for-each';
import { copyIntoLabelFolders, heldOutCells } from './malaria-data';

const PER_CLASS = 1000;

function readCsv(file: string): string[][] {
  const parser = new CsvRecords();
  return [...parser.push(fs.readFileSync(file, 'utf8')), ...parser.end()].map((r) => r.fields);
}

interface Run {
  code: number | null;
  stderr: string;
  seconds: number;
  peakRss: number;
  peakPss: number;
}

/** The real command, to the end, with the memory of its process tree sampled every 100 ms. */
async function cli(args: string[]): Promise<Run> {
  const started = performance.now();
  const { child, done } = startCli([...args, '--quiet']);
  child.stdin.end();
  const sampler = child.pid === undefined ? undefined : samplePeakMemory(child.pid);
  const result = await done;
  const peak = sampler?.stop() ?? { rss: 0, pss: 0 };
  return { code: result.code, stderr: result.stderr, seconds: (performance.now() - started) / 1000, peakRss: peak.rss, peakPss: peak.pss };
}

const lines: string[] = [];
let failed = false;
function check(what: string, ok: boolean, measured: string): void {
  lines.push(`| ${what} | ${measured} | ${ok ? 'yes' : '**NO**'} |`);
  if (!ok) failed = true;
}

async function malaria(dataRoot: string, tmp: string): Promise<void> {
  const folder = path.join(tmp, 'cells');
  copyIntoLabelFolders(heldOutCells(dataRoot, PER_CLASS), folder);
  const server = await startServer({}, 60_000);
  try {
    const local = await cli(['predict', 'malaria', folder, '--out', path.join(tmp, 'local.csv')]);
    const rows = readCsv(path.join(tmp, 'local.csv')).slice(1);
    check(
      '2,000 images: one row each, no error',
      rows.length === 2 * PER_CLASS && rows.every((r) => r[5] === ''),
      `${rows.length} rows, ${rows.filter((r) => r[5] !== '').length} errors, exit ${local.code}`,
    );

    let disagree = 0;
    let apiCorrect = 0;
    await forEach(rows, 4, async ([file, label, confidence, p, u]) => {
      const body = new FormData();
      body.append('image', new Blob([fs.readFileSync(file as string)]), 'cell');
      const res = await fetch(`${server.url}/api/predict/malaria`, { method: 'POST', body });
      const api = (await res.json()) as { label: string; confidence: number; scores: Record<string, number> };
      const truth = path.basename(path.dirname(file as string));
      if (api.label === truth) apiCorrect++;
      const same =
        res.status === 200 &&
        api.label === label &&
        api.confidence === Number(confidence) &&
        api.scores.parasitized === Number(p) &&
        api.scores.uninfected === Number(u);
      if (!same) disagree++;
    });
    check(
      'batch agrees with the JSON API on every image (label, confidence, scores)',
      disagree === 0,
      `${disagree} of ${rows.length} differ`,
    );

    const reported = /^accuracy ([\d.]+) % \(([\d,]+) of ([\d,]+)\)$/m.exec(local.stderr);
    const batchCorrect = Number(reported?.[2]?.replaceAll(',', '') ?? NaN);
    check(
      "batch's accuracy report equals the accuracy from the API",
      batchCorrect === apiCorrect,
      `batch ${reported?.[1]} % (${batchCorrect} of ${reported?.[3]}), API ${((100 * apiCorrect) / rows.length).toFixed(2)} % (${apiCorrect} of ${rows.length})`,
    );

    const remote = await cli([
      'predict',
      'malaria',
      folder,
      '--url',
      server.url,
      '--out',
      path.join(tmp, 'remote.csv'),
    ]);
    const identical =
      fs.readFileSync(path.join(tmp, 'remote.csv'), 'utf8') === fs.readFileSync(path.join(tmp, 'local.csv'), 'utf8');
    check(
      '--url to the server writes the same file as in process',
      identical && remote.code === 0,
      `${identical ? 'identical' : 'DIFFERENT'}, exit ${remote.code}`,
    );
    lines.push(
      `| (time) | in process ${local.seconds.toFixed(1)} s, --url ${remote.seconds.toFixed(1)} s, wall clock with start-up | |`,
    );
  } finally {
    server.child.kill('SIGTERM');
    await server.exited;
  }
}

async function reviews(dataRoot: string, tmp: string): Promise<void> {
  const source = path.join(dataRoot, 'imdb', 'train.jsonl.gz');
  const args = ['--field', 'text', '--label-field', 'label'];
  const once = await cli([
    'predict',
    'sentiment',
    source,
    '--id-field',
    'id',
    ...args,
    '--out',
    path.join(tmp, 'imdb.csv'),
  ]);
  const rows = readCsv(path.join(tmp, 'imdb.csv')).slice(1);
  const ids = new Set(rows.map((r) => r[0]));
  const accuracy = /^accuracy .+$/m.exec(once.stderr)?.[0] ?? 'no report';
  check(
    '25,000 reviews from train.jsonl.gz: one row each',
    rows.length === 25_000 && ids.size === 25_000 && once.code === 0,
    `${rows.length} rows, ${ids.size} ids, exit ${once.code}; ${accuracy}`,
  );

  // The same reviews twice, gzipped: streaming means the same peak memory for twice the input.
  const twice = path.join(tmp, 'twice.jsonl.gz');
  const text = zlib.gunzipSync(fs.readFileSync(source));
  fs.writeFileSync(twice, zlib.gzipSync(Buffer.concat([text, text]), { level: 1 }));
  const double = await cli(['predict', 'sentiment', twice, ...args, '--out', path.join(tmp, 'imdb2.csv')]);
  check(
    'flat memory: peak RSS for 50,000 reviews ≤ 1.1 × that for 25,000 + 10 MB',
    double.peakRss <= 1.1 * once.peakRss + 10 * 1048576 && double.code === 0,
    `25,000: peak RSS ${mb(once.peakRss)} MB (PSS ${mb(once.peakPss)} MB) in ${once.seconds.toFixed(1)} s; ` +
      `50,000: ${mb(double.peakRss)} MB (PSS ${mb(double.peakPss)} MB) in ${double.seconds.toFixed(1)} s`,
  );
}

async function main(): Promise<void> {
  const dataRoot = dataDir();
  if (!fs.existsSync(path.join(dataRoot, 'malaria')) || !fs.existsSync(path.join(dataRoot, 'imdb'))) {
    console.log(`${dataRoot} has no malaria/ and imdb/: batch check skipped`);
    return;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-batch-check-'));
  const started = performance.now();
  try {
    await malaria(dataRoot, tmp);
    await reviews(dataRoot, tmp);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(
    `\nBatch check (${os.availableParallelism()} cores, load average ${os.loadavg()[0]?.toFixed(2)} at the end)\n`,
  );
  console.log('| check | measured | ok |\n|---|---|---|');
  for (const line of lines) console.log(line);
  console.log(`\n(${((performance.now() - started) / 1000).toFixed(0)} s)`);
  if (failed) {
    console.error('batch check FAILED');
    process.exit(1);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
