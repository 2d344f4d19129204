/**
 * Memory under a burst of the largest images the app accepts (issue 22, finding 2):
 * `npm run build && npm run bench:memory` (about a minute; it builds nothing itself).
 *
 * Starts the app as `npm start` does (bench/servers.ts startApp: the start script's flags and
 * environment, NODE_ENV=production) in each setting below, then sends 50 posts at once, each of
 * the largest image the app accepts (a PNG of the default MAX_IMAGE_MEGAPIXELS' width × height,
 * drawn by sharp: a cell on black, a few KB compressed), spread over the three ways in: the page's
 * image form (several images, thumbnails kept), the JSON API (one image, the raw body) and the
 * batch API (several images). While it runs, the PSS of every process of the app is sampled from
 * /proc every 20 ms; after it, RSS once the burst has been answered and the app left alone 2 s.
 *
 * It fails (exit 1) unless every answer is 200 or 503 with Retry-After (a 200 page or batch may
 * hold rows refused with 503 `overloaded`: counted apart), and the peak PSS of each process and of
 * all of them together stays within a 512 MB dyno.
 *
 *   npm run bench:memory                       # the defaults, and one HTTP process (a 512 MB dyno)
 *   npm run bench:memory -- --posts 50 --images 4
 */
import fs from 'node:fs';
import http from 'node:http';
import sharp from 'sharp';
import { loadConfig } from '../src/config';
import { type Proc, ROOT, mb, multipart, sleep, startApp } from './lib';
import { processTree } from './proc';

const DYNO_BYTES = 512 * 1048576;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** The settings compared: what `npm start` does on this machine, and what a 512 MB dyno runs. */
const SETTINGS: { name: string; env: Record<string, string> }[] = [
  { name: 'defaults', env: {} },
  { name: 'one HTTP process (WEB_CONCURRENCY=1, inference workers)', env: { WEB_CONCURRENCY: '1' } },
];

/** The largest image the app's default limit accepts, as close to square as it goes. */
function largestAccepted(maxPixels: number): { width: number; height: number } {
  const width = Math.floor(Math.sqrt(maxPixels));
  return { width, height: Math.floor(maxPixels / width) };
}

/** A pale disc on black at `width` × `height`: compresses to a few KB, decodes to 3 bytes a pixel. */
async function largeCell(width: number, height: number): Promise<Buffer> {
  const r = Math.min(width, height) * 0.4;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <rect width="100%" height="100%" fill="black"/><circle cx="${width / 2}" cy="${height / 2}" r="${r}" fill="#d9a3b0"/></svg>`;
  return sharp(Buffer.from(svg)).png({ compressionLevel: 9, palette: true }).toBuffer();
}

/** One multipart body with `count` copies of the image in the field "image". */
function multipartMany(image: Buffer, count: number): { headers: Record<string, string>; body: Buffer } {
  const one = multipart(image);
  const boundary = /boundary=(.+)$/.exec(one.headers['content-type'] as string)?.[1] as string;
  const part = (i: number): Buffer =>
    Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="cell-${i}.png"\r\nContent-Type: image/png\r\n\r\n`),
      image,
      Buffer.from('\r\n'),
    ]);
  return {
    headers: one.headers,
    body: Buffer.concat([...Array.from({ length: count }, (_, i) => part(i)), Buffer.from(`--${boundary}--\r\n`)]),
  };
}

interface Answer {
  route: string;
  status: number;
  retryAfter: string | undefined;
  body: string;
}

function post(base: string, route: string, headers: Record<string, string>, body: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    const req = http.request(
      base + route,
      { method: 'POST', headers: { ...headers, 'content-length': String(body.length) }, agent: false, timeout: 60_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ route, status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: text }));
        res.on('error', () => resolve({ route, status: -1, retryAfter: undefined, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve({ route, status: -1, retryAfter: undefined, body: err.message }));
    req.end(body);
  });
}

/** PSS and RSS of one process (not its children), in bytes; zeros once it has exited. */
function ownMemory(pid: number): { pss: number; rss: number } {
  try {
    const pss = Number(/^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0) * 1024;
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    return { pss, rss };
  } catch {
    return { pss: 0, rss: 0 };
  }
}

/** Samples every process of the app's tree: the peak PSS of each, and of their sum. */
function samplePss(root: number, everyMs = 20): { stop(): { sum: number; each: Map<number, number> } } {
  const each = new Map<number, number>();
  let sum = 0;
  const sample = (): void => {
    let total = 0;
    for (const pid of processTree(root)) {
      const { pss } = ownMemory(pid);
      total += pss;
      each.set(pid, Math.max(each.get(pid) ?? 0, pss));
    }
    sum = Math.max(sum, total);
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return { sum, each };
    },
  };
}

/** The error codes of the rows inside a 200 batch answer or results page (none for a single result). */
function rowCodes(a: Answer): string[] {
  if (a.status !== 200) return [];
  if (a.route.startsWith('/api/')) return [...a.body.matchAll(/"code":"([a-z_]+)"/g)].map((m) => m[1] as string);
  return [...a.body.matchAll(/data-error="([a-z_]+)"/g)].map((m) => m[1] as string);
}

async function burst(app: Proc, image: Buffer, posts: number, perPost: number): Promise<boolean> {
  const many = multipartMany(image, perPost);
  const kinds = [
    { route: '/predict/malaria', headers: { ...many.headers, accept: 'text/html' }, body: many.body },
    { route: '/api/predict/malaria', headers: { 'content-type': 'image/png' }, body: image },
    { route: '/api/predict/malaria/batch', headers: many.headers, body: many.body },
  ];
  const idle = new Map(processTree(app.pid).map((pid) => [pid, ownMemory(pid)]));
  const sampler = samplePss(app.pid);
  const started = performance.now();
  const answers = await Promise.all(
    Array.from({ length: posts }, (_, i) => {
      const k = kinds[i % kinds.length] as (typeof kinds)[number];
      return post(app.base, k.route, k.headers, k.body);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const peak = sampler.stop();
  await sleep(2000);
  const after = new Map(processTree(app.pid).map((pid) => [pid, ownMemory(pid)]));

  const counts = new Map<string, number>();
  let ok = true;
  for (const a of answers) {
    const good = a.status === 200 || (a.status === 503 && a.retryAfter !== undefined);
    if (!good) ok = false;
    const key = `${a.route} ${a.status}${a.status === 503 ? ` Retry-After: ${a.retryAfter ?? 'MISSING'}` : ''}${good ? '' : ` ${a.body.slice(0, 120)}`}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    for (const code of rowCodes(a)) counts.set(`${a.route}   row ${code}`, (counts.get(`${a.route}   row ${code}`) ?? 0) + 1);
  }
  console.log(`  ${posts} posts in ${seconds.toFixed(1)} s:`);
  for (const [key, n] of [...counts].sort()) console.log(`    ${String(n).padStart(3)} × ${key}`);
  const within = (bytes: number): string => (bytes <= DYNO_BYTES ? 'ok' : 'OVER 512 MB');
  console.log(`  peak PSS summed over the app's processes: ${mb(peak.sum)} MB (${within(peak.sum)})`);
  if (peak.sum > DYNO_BYTES) ok = false;
  for (const [pid, pss] of peak.each) {
    const role = pid === app.pid ? 'first process' : 'child process';
    console.log(
      `    pid ${pid} (${role}): idle PSS ${mb(idle.get(pid)?.pss ?? 0)} MB, peak PSS ${mb(pss)} MB (${within(pss)}), ` +
        `RSS 2 s after ${mb(after.get(pid)?.rss ?? 0)} MB`,
    );
    if (pss > DYNO_BYTES) ok = false;
  }
  const rssAfter = [...after.values()].reduce((s, m) => s + m.rss, 0);
  const pssAfter = [...after.values()].reduce((s, m) => s + m.pss, 0);
  console.log(`  2 s after: RSS summed ${mb(rssAfter)} MB, PSS summed ${mb(pssAfter)} MB`);
  const alive = await new Promise<boolean>((resolve) =>
    http.get(`${app.base}/healthz`, { agent: false }, (res) => resolve(res.statusCode === 200)).on('error', () => resolve(false)),
  );
  console.log(`  alive after: ${alive}`);
  return ok && alive;
}

async function main(): Promise<void> {
  if (!fs.existsSync(`${ROOT}/dist/server.js`)) throw new Error('dist/server.js is missing: run `npm run build` first');
  const posts = arg('posts', 50);
  const perPost = arg('images', 4);
  const { width, height } = largestAccepted(loadConfig({ NODE_ENV: 'production' }).maxImagePixels);
  const image = await largeCell(width, height);
  console.log(
    `The largest accepted image: ${width} × ${height} px (${((width * height) / 1e6).toFixed(2)} MP, ${mb(width * height * 3)} MB of RGB), ` +
      `a ${(image.length / 1024).toFixed(1)} KB PNG; ${perPost} per post on the page form and the batch API.`,
  );
  let ok = true;
  for (const setting of SETTINGS) {
    const app = await startApp(setting.name, setting.env);
    try {
      console.log(`\n${setting.name}:`);
      ok = (await burst(app, image, posts, perPost)) && ok;
    } finally {
      await app.stop();
    }
  }
  console.log(ok ? '\nholds: only 200 or 503 + Retry-After, every process within 512 MB' : '\nDOES NOT HOLD');
  process.exitCode = ok ? 0 : 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
