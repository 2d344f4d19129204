/**
 * Many images in one post against one image per post: `npm run bench:multi` (about 2 minutes).
 *
 * Starts the app as `npm start` runs it (bench/servers.ts startApp: dist/, production, the start
 * script's node flags and defaults) and sends the same 100 cell images (100 held-out cells from
 * ../shared/data when it is there, else 100 synthetic ones) in four ways, interleaved, ROUNDS times:
 *   singles c=1   100 posts to POST /api/predict/malaria, one after another (a plain script)
 *   singles c=8   100 posts, 8 in flight on keep-alive connections (a careful client)
 *   batch API     1 post to POST /api/predict/malaria/batch
 *   batch page    1 post of the image form (POST /predict/malaria): the HTML table, thumbnails, CSV
 * and reports images/s (median of the rounds), the server's CPU time per image (from /proc, which
 * other load on the machine disturbs less than wall time) and the batch's ratio to the faster of
 * the singles. Memory: PSS summed over the app's processes, sampled every 50 ms: idle, peak
 * during the runs above, and peak during the worst posts the limits allow (100 images making
 * up 50 MB, alone and 4 at once).
 *
 * The client runs in this process, on the same cores as the server: its bodies are built before
 * timing starts.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { heldOutCells } from '../training/malaria-data';
import { type Proc, buildIfStale, mb, multipart, startApp, syntheticCell, treeCpuMs, treeMemory } from './lib';
import { quantile } from './stats';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const N = 100;
const DATA = path.resolve(process.env.ML_FORMS_DATA ?? path.join(__dirname, '..', '..', 'shared', 'data'));

interface Image {
  name: string;
  bytes: Buffer;
}

async function cells(): Promise<{ images: Image[]; source: string }> {
  if (fs.existsSync(path.join(DATA, 'malaria'))) {
    const images = heldOutCells(DATA, N / 2).map((it) => ({
      name: `${it.label}-${path.basename(it.file)}`,
      bytes: fs.readFileSync(it.file),
    }));
    const kb = (images.reduce((sum, i) => sum + i.bytes.length, 0) / 1024).toFixed(0);
    return { images, source: `100 held-out cells from ${DATA} (lossless WebP, ${kb} KB in all)` };
  }
  const one = await syntheticCell();
  return {
    images: Array.from({ length: N }, (_, i) => ({ name: `cell-${i}.png`, bytes: one })),
    source: '100 synthetic 130×130 PNG cells (../shared/data absent)',
  };
}

/** 100 noisy, uncompressed 415×415 PNGs of about 0.5 MB each: a post near 50 MB, each file under the 5 MB limit. */
async function heavyCells(maxBytes: number): Promise<Image[]> {
  const size = 415;
  const px = Buffer.alloc(size * size * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 2654435761) >>> 24;
  const png = await sharp(px, { raw: { width: size, height: size, channels: 3 } })
    .png({ compressionLevel: 0 })
    .toBuffer();
  if (png.length * N > maxBytes - 64 * 1024)
    throw new Error(`${N} heavy cells of ${png.length} B do not fit ${maxBytes} B`);
  return Array.from({ length: N }, (_, i) => ({ name: `heavy-${i}.png`, bytes: png }));
}

function multipartMany(images: Image[]): { headers: Record<string, string>; body: Buffer } {
  const boundary = '----mlformsbenchmulti7MA4YWxk';
  const parts = images.flatMap((im) => [
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="${im.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    ),
    im.bytes,
    Buffer.from('\r\n'),
  ]);
  return {
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]),
  };
}

function post(
  agent: http.Agent,
  url: string,
  upload: { headers: Record<string, string>; body: Buffer },
  accept = 'application/json',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { ...upload.headers, accept, 'content-length': String(upload.body.length) } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(upload.body);
  });
}

interface Sample {
  seconds: number;
  cpuMs: number;
}

/** Wall time and server CPU of `work`; fails on any answer that is not a complete 200. */
async function timed(app: Proc, work: () => Promise<void>): Promise<Sample> {
  const cpu0 = treeCpuMs(app.pid);
  const t0 = performance.now();
  await work();
  return { seconds: (performance.now() - t0) / 1000, cpuMs: treeCpuMs(app.pid) - cpu0 };
}

/** Peak PSS of the app's processes while `work` runs. */
async function peakPss(app: Proc, work: () => Promise<unknown>): Promise<number> {
  let peak = treeMemory(app.pid).pss;
  const sampler = setInterval(() => (peak = Math.max(peak, treeMemory(app.pid).pss)), 50);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  return Math.max(peak, treeMemory(app.pid).pss);
}

function check(res: { status: number; body: string }, what: string, rows?: number): void {
  if (res.status !== 200) throw new Error(`${what}: ${res.status} ${res.body.slice(0, 300)}`);
  if (rows !== undefined) {
    const n = (JSON.parse(res.body) as { predictions: unknown[] }).predictions.length;
    if (n !== rows) throw new Error(`${what}: ${n} predictions, expected ${rows}`);
  }
}

async function main(): Promise<void> {
  buildIfStale();
  const { images, source } = await cells();
  const singles = images.map((im) => multipart(im.bytes));
  const batch = multipartMany(images);
  const load0 = os.loadavg();
  const app = await startApp('app');
  const base = app.base;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const idle = treeMemory(app.pid).pss;

  const scenarios: Record<string, () => Promise<void>> = {
    'singles c=1': async () => {
      for (const s of singles) check(await post(agent, `${base}/api/predict/malaria`, s), 'single');
    },
    'singles c=8': async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let i = next++; i < N; i = next++)
            check(await post(agent, `${base}/api/predict/malaria`, singles[i] as (typeof singles)[number]), 'single');
        }),
      );
    },
    'batch API': async () => check(await post(agent, `${base}/api/predict/malaria/batch`, batch), 'batch', N),
    'batch page (HTML)': async () => check(await post(agent, `${base}/predict/malaria`, batch, 'text/html'), 'page'),
  };
  for (const run of Object.values(scenarios)) await run(); // warm-up: JIT, first allocations
  const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(scenarios).map((k) => [k, []]));
  const peak = await peakPss(app, async () => {
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, run] of Object.entries(scenarios)) (samples[name] as Sample[]).push(await timed(app, run));
    }
  });

  const heavy = multipartMany(await heavyCells(50 * 1024 * 1024));
  const heavyPeak = await peakPss(app, async () =>
    check(await post(agent, `${base}/api/predict/malaria/batch`, heavy), 'heavy', N),
  );
  const heavy4Peak = await peakPss(app, () =>
    Promise.all(
      Array.from({ length: 4 }, () =>
        post(new http.Agent(), `${base}/api/predict/malaria/batch`, heavy).then((r) => check(r, 'heavy ×4', N)),
      ),
    ),
  );
  agent.destroy();
  await app.stop();

  const rate = (name: string): number => N / quantile((samples[name] as Sample[]).map((s) => s.seconds));
  const cpu = (name: string): number => quantile((samples[name] as Sample[]).map((s) => s.cpuMs)) / N;
  const best = Math.max(rate('singles c=1'), rate('singles c=8'));
  const lines = [
    `# Many images in one post: ${new Date().toISOString()}`,
    '',
    `Machine: ${os.availableParallelism()} × ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}. Command: \`npm run bench:multi\` (${ROUNDS} rounds, interleaved; medians). ` +
      `Images: ${source}. Load average before: ${load0.map((l) => l.toFixed(2)).join(', ')}; after: ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(', ')} (above ~0.2 means other work shared the 2 cores).`,
    '',
    '| 100 images as | images/s | server CPU ms/image | vs the faster singles |',
    '|---|---:|---:|---:|',
    ...Object.keys(scenarios).map(
      (name) => `| ${name} | ${rate(name).toFixed(0)} | ${cpu(name).toFixed(2)} | ${(rate(name) / best).toFixed(2)}× |`,
    ),
    '',
    `Memory (PSS of the app's processes): idle ${mb(idle)} MB; peak during the runs above ${mb(peak)} MB; ` +
      `peak during one ${mb(heavy.body.length)} MB post of 100 images ${mb(heavyPeak)} MB; during 4 such posts at once ${mb(heavy4Peak)} MB.`,
    '',
    `| goal | measured | |`,
    `|---|---|---|`,
    `| batch API ≥ 0.8× the faster of 100 single-image posts | ${(rate('batch API') / best).toFixed(2)}× | ${rate('batch API') >= 0.8 * best ? 'met' : 'NOT met'} |`,
    `| image form with 100 images ≥ 0.8× the same | ${(rate('batch page (HTML)') / best).toFixed(2)}× | ${rate('batch page (HTML)') >= 0.8 * best ? 'met' : 'NOT met'} |`,
  ];
  console.log(lines.join('\n'));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
