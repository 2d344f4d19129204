/**
 * What the prediction log's write to Postgres costs the app's process (issue 26): `npm run
 * bench:log-postgres [-- --rounds N] [--url postgres://…]` (default 40 rounds after 5 of warm-up;
 * a few seconds). Without --url it starts a throwaway server of Debian's postgresql, as the tests
 * do (tests/helpers/postgres.ts).
 *
 * Each round writes one batch through the app's PostgresStore (src/database/postgres.ts): 190
 * review lines with their texts held, or 30 cell lines with their 6.8 KB files held, what one HTTP
 * process's writer flushes every 100 ms when reviews or images saturate it. It reports the CPU of
 * this process per line (process.cpuUsage: its JavaScript, pg's, and the system calls that send
 * the batch), median and range. The server's own work is not in it: on Heroku it runs on the
 * database's machine, not on the dyno. Part 9 of `npm run bench` measures the log on SQLite, the
 * default; a server here would share the two cores with the app, so served throughput with
 * Postgres cannot be measured fairly on this machine.
 */
import os from 'node:os';
import { PostgresStore } from '../src/database/postgres';
import type { HeldInput, PredictionRecord } from '../src/database/types';
import { orderedId } from '../src/monitoring/ids';
import { startPostgres } from '../tests/helpers/postgres';
import { REVIEW, cardVersion, heldCellFile } from './parts/settings';
import { loadAverage, medianRange, wholeOption } from './stats';

const WARM_UP = 5;
const KEEP_MS = 30 * 60_000;

interface Case {
  name: string;
  lines: number;
  line(at: number, id: string, i: number): PredictionRecord;
  input(at: number, id: string, i: number): HeldInput;
}


function cases(): Case[] {
  const file = heldCellFile();
  const [sentiment, malaria] = [cardVersion('sentiment'), cardVersion('malaria')];
  return [
    {
      name: 'review (its text held)',
      lines: 190,
      line: (at, id, i) => ({
        id, at, model: 'sentiment', version: sentiment, source: 'api', label: 'positive', value: null,
        confidence: 0.9 + i / 10_000, latencyMs: 2.4, features: { length: REVIEW.length, unknown_share: 0.04 },
      }),
      input: (at, id) => ({ predictionId: id, mediaType: 'text/plain; charset=utf-8', bytes: Buffer.from(REVIEW, 'utf8'), expiresAt: at + KEEP_MS }),
    },
    {
      name: 'cell image (its 6.8 KB file held)',
      lines: 30,
      line: (at, id, i) => ({
        id, at, model: 'malaria', version: malaria, source: 'api', label: 'uninfected', value: null,
        confidence: 0.99 - i / 10_000, latencyMs: 9.1, features: { width: 139, height: 133, brightness: 181.2 },
      }),
      input: (at, id) => ({ predictionId: id, mediaType: 'image/webp', bytes: file, expiresAt: at + KEEP_MS }),
    },
  ];
}

function batch(c: Case): { lines: PredictionRecord[]; inputs: HeldInput[] } {
  const lines: PredictionRecord[] = [];
  const inputs: HeldInput[] = [];
  for (let i = 0; i < c.lines; i++) {
    const at = Date.now();
    const id = orderedId(at);
    lines.push(c.line(at, id, i));
    inputs.push(c.input(at, id, i));
  }
  return { lines, inputs };
}

async function main(): Promise<void> {
  const rounds = wholeOption('rounds') ?? 40;
  const given = /--url[= ](\S+)/.exec(process.argv.slice(2).join(' '))?.[1];
  const server = given === undefined ? await startPostgres() : null;
  const url = given ?? server?.url;
  if (url === undefined) throw new Error('no Postgres: install Debian\'s postgresql, or give --url postgres://…');
  const store = new PostgresStore({ connectionString: url, ssl: false, description: 'bench' });
  try {
    await store.migrate();
    console.log(`## The prediction log's write to Postgres, this process's CPU per line: ${new Date().toISOString()}\n`);
    console.log(
      `${os.availableParallelism()} × ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}; load average before ${loadAverage()}. ` +
        `${rounds} rounds of one batch after ${WARM_UP} of warm-up; µs of CPU per line, median (range).\n`,
    );
    console.log('| batch | lines | µs per line |');
    console.log('|---|---:|---:|');
    for (const c of cases()) {
      const perLine: number[] = [];
      for (let r = 0; r < WARM_UP + rounds; r++) {
        const { lines, inputs } = batch(c);
        const before = process.cpuUsage();
        await store.write(lines, inputs);
        const used = process.cpuUsage(before);
        if (r >= WARM_UP) perLine.push((used.user + used.system) / c.lines);
      }
      console.log(`| ${c.name} | ${c.lines} | ${medianRange(perLine, 1)} |`);
    }
  } finally {
    await store.close();
    await server?.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
