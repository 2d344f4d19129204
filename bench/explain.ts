/**
 * What an explanation costs the server (issue 25, must hold 5): `npx tsx bench/explain.ts`
 * (`-- --rounds N --requests N --before DIR`; a minute or two). Part of `npm run bench`.
 *
 * The built app, as `npm start` runs it, answers the JSON API one request at a time over one
 * kept-alive connection (a light client: the server's CPU is what is measured, from /proc, for its
 * whole process tree). Each round sends `--requests` plain and as many explained requests
 * (`?explain=1`) of each kind, the order alternating from round to round, after a warm-up:
 *   review  a held-out IMDB review of about the median length (the page's own text otherwise)
 *   cell    the page's example "unsure" cell, a held-out cell of the median size (from ../shared/data)
 * and reports, per kind, the server CPU per request plain and explained, and the extra CPU an
 * explanation costs: medians over the rounds with their ranges. Bars: ≤ 1 ms more for a review,
 * ≤ 20 ms more for a cell.
 *
 * `--before DIR`: a built checkout of the app before explanations (e.g. `git worktree add DIR
 * <commit> && (cd DIR && npm ci && npm run build)`) also answers the plain requests, alternating
 * with this one: plain CPU now / before per kind (issue 25: unexplained requests not slower).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { dataDirOf } from '../src/build/examples';
import { malaria } from '../src/models/malaria';
import { type Proc, ROOT, buildIfStale, startApp, treeCpuMs } from './lib';
import { medianRange, quantile } from './stats';

const argv = process.argv.slice(2).join(' ');
const option = (name: string): string | undefined => new RegExp(`--${name}[= ](\\S+)`).exec(argv)?.[1];
const ROUNDS = Number(option('rounds') ?? 5);
const REQUESTS = Number(option('requests') ?? 100);
const BEFORE = option('before');

/** A review of about the median IMDB length (about 1,300 characters), written for this benchmark. */
const REVIEW = [
  'I went in expecting very little and came out pleasantly surprised, although not everything works.',
  'The first half is slow: the characters are introduced one by one, and the dialogue is stiff and',
  'sometimes painfully obvious. The lead actor does his best with a script that gives him little to',
  'do except look worried. Then the story finally picks up. The middle section, set in the old hotel,',
  'is genuinely tense, beautifully shot and scored with restraint; I jumped twice. The supporting',
  'cast is excellent, especially the housekeeper, who steals every scene she is in with a single',
  'glance. Sadly the ending is rushed and makes little sense: a twist that comes out of nowhere, a',
  'villain whose motives are never explained, and a final shot that feels borrowed from a better',
  'film. The special effects are cheap but used sparingly, which helps. At almost two hours it is',
  'too long by twenty minutes, and the editing in the last act is sloppy. Still, for the atmosphere',
  'and a handful of memorable performances, it is worth a look on a rainy evening. Do not expect a',
  'masterpiece; expect a decent, flawed and occasionally gripping thriller that could have been',
  'great with a braver script and a director willing to cut. Six out of ten.',
].join(' ');

interface Request {
  path: string;
  headers: http.OutgoingHttpHeaders;
  body: Buffer;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function send(base: string, r: Request): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(r.path, base);
    const req = http.request(url, { method: 'POST', agent, headers: { ...r.headers, 'content-length': r.body.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

/** Server CPU (ms) per request for `n` requests `r`, one at a time. */
async function cpuPerRequest(app: Proc, r: Request, n: number): Promise<number> {
  const before = treeCpuMs(app.pid);
  for (let i = 0; i < n; i++) {
    const status = await send(app.base, r);
    if (status !== 200) throw new Error(`${app.name} ${r.path}: ${status}`);
  }
  return (treeCpuMs(app.pid) - before) / n;
}

const fmt = medianRange;

export async function explainSection(say: (s?: string) => void, options: { rounds?: number; requests?: number; before?: string } = {}): Promise<void> {
  const rounds = options.rounds ?? ROUNDS;
  const requests = options.requests ?? REQUESTS;
  const unsure = malaria.page.examples?.find((e) => e.value.endsWith('unsure.webp'))?.source;
  if (unsure === undefined) throw new Error('the malaria definition names no "unsure" example cell');
  const cell = fs.readFileSync(path.join(dataDirOf(ROOT), unsure));
  const kinds = {
    review: {
      plain: { path: '/api/predict/sentiment', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ review: REVIEW })) },
      bar: 1,
    },
    cell: { plain: { path: '/api/predict/malaria', headers: { 'content-type': 'image/webp' }, body: cell }, bar: 20 },
  };
  const app = await startApp('app', { RATE_LIMIT_PER_MINUTE: '0' });
  const before = options.before === undefined ? null : await startApp('before', { RATE_LIMIT_PER_MINUTE: '0' }, [], options.before);
  try {
    say(`## What an explanation costs (issue 25): server CPU per request, one at a time, ${rounds} alternating rounds of ${requests} requests each`);
    say();
    say('| request | plain ms CPU | explained ms CPU | extra ms | bar | holds |' + (before === null ? '' : ' plain now / before |'));
    say('|---|---:|---:|---:|---:|---|' + (before === null ? '' : '---:|'));
    for (const [kind, { plain, bar }] of Object.entries(kinds)) {
      const explained = { ...plain, path: `${plain.path}?explain=1` };
      // Warm-up: both paths, both apps.
      await cpuPerRequest(app, plain, 20);
      await cpuPerRequest(app, explained, 20);
      if (before !== null) await cpuPerRequest(before, plain, 20);
      const p: number[] = [];
      const e: number[] = [];
      const extra: number[] = [];
      const ratio: number[] = [];
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? (['p', 'e', 'b'] as const) : (['b', 'e', 'p'] as const);
        const got: Record<string, number> = {};
        for (const which of order) {
          if (which === 'p') got.p = await cpuPerRequest(app, plain, requests);
          if (which === 'e') got.e = await cpuPerRequest(app, explained, requests);
          if (which === 'b' && before !== null) got.b = await cpuPerRequest(before, plain, requests);
        }
        p.push(got.p as number);
        e.push(got.e as number);
        extra.push((got.e as number) - (got.p as number));
        if (got.b !== undefined) ratio.push((got.p as number) / got.b);
      }
      const holds = quantile(extra) <= bar ? 'yes' : 'no';
      say(`| ${kind} | ${fmt(p)} | ${fmt(e)} | ${fmt(extra)} | ≤ ${bar} | ${holds} |` + (before === null ? '' : ` ${fmt(ratio)} |`));
    }
    say();
  } finally {
    await app.stop();
    await before?.stop();
    agent.destroy();
  }
}

if (require.main === module) {
  buildIfStale();
  void explainSection((s = '') => console.log(s), { before: BEFORE }).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
