/**
 * Image predictions over HTTP against the limit for an image service (issue 24, must hold 2):
 *
 *   npm run bench:minimal -- [--rounds N] [--seconds S] [--connections C]
 *
 * (default 5 rounds of 5 s at 32 connections; about three minutes; part 10 of `npm run bench`). Starts the built app as `npm
 * start` starts it and the minimal server (bench/minimal-server.ts: node:http, one process per
 * core, busboy, sharp at the image's own size, one onnxruntime-node run, default settings), both
 * with the start script's node flags, and loads them in turn with the same upload, the order
 * alternating every round, after a warm-up: the synthetic cell of `npm run bench` and, when
 * ../shared/data is there, a real cell of the median size (the page's "unsure" example). Reports
 * per image the medians (and ranges) of images/s and of server CPU per image (every process and
 * thread of each tree, from /proc), and the per-round ratios app/minimal: the bars are ≥ 0.85 for
 * the rate and ≤ 1.3 for the CPU. The in-process limit (bench/image-limit.ts, best of 1, 2 and 4 in
 * flight) is printed beside, as issue 24 asks, and, for reference, the minimal server with the app's
 * onnxruntime and libvips settings (bench/minimal-server.ts `tuned`), loaded in the same rotation.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dataDirOf } from '../src/build/examples';
import { malaria } from '../src/models/malaria';
import {
  type Proc,
  ROOT,
  bestImageLimit,
  buildIfStale,
  multipart,
  requireWrk,
  startApp,
  startBenchServer,
  syntheticCell,
  warm,
  wrk,
  type Target,
} from './lib';
import { type RoundOptions, loadAverage, medianRange, quantile, roundSettings, wholeOption } from './stats';

const RATE_BAR = 0.85;
const CPU_BAR = 1.3;

/** The minimal server, with the start script's environment and node flags, as the app runs. */
function startMinimal(tuned = false): Promise<Proc> {
  return startBenchServer(tuned ? 'minimal server, tuned' : 'minimal server', 'minimal-server.ts', tuned ? ['tuned'] : []);
}

/** The uploads: the synthetic cell, and the page's held-out "unsure" cell when the data is there. */
async function images(tmp: string): Promise<{ name: string; file: string; bytes: Buffer }[]> {
  const synthetic = await syntheticCell();
  const file = path.join(tmp, 'synthetic.png');
  fs.writeFileSync(file, synthetic);
  const out = [{ name: `the synthetic cell (${synthetic.length} bytes)`, file, bytes: synthetic }];
  const source = malaria.page.examples?.find((e) => e.value.endsWith('unsure.webp'))?.source;
  const real = source === undefined ? null : path.join(dataDirOf(ROOT), source);
  if (real !== null && fs.existsSync(real)) {
    const bytes = fs.readFileSync(real);
    out.push({ name: `${source} (${bytes.length} bytes)`, file: real, bytes });
  }
  return out;
}

const range = medianRange;

export async function minimalSection(
  say: (s?: string) => void,
  options: RoundOptions & { connections?: number } = {},
): Promise<void> {
  const { rounds, seconds } = roundSettings(options);
  const connections = options.connections ?? 32;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-minimal-'));
  const uploads = await images(tmp);
  const before = loadAverage();
  const app = await startApp('app');
  const minimal = await startMinimal();
  const tuned = await startMinimal(true);
  const lines: string[] = [];
  try {
    for (const image of uploads) {
      const upload = multipart(image.bytes, 'image', path.basename(image.file));
      const targets: Record<string, Target> = {
        app: { method: 'POST', path: '/api/predict/malaria', headers: upload.headers, body: upload.body },
        minimal: { method: 'POST', path: '/', headers: upload.headers, body: upload.body },
        tuned: { method: 'POST', path: '/', headers: upload.headers, body: upload.body },
      };
      const servers: [string, Proc][] = [
        ['app', app],
        ['minimal', minimal],
        ['tuned', tuned],
      ];
      for (const [name, server] of servers) await warm(server.base, [targets[name] as Target], 3);
      const rate: Record<string, number[]> = { app: [], minimal: [], tuned: [] };
      const cpu: Record<string, number[]> = { app: [], minimal: [], tuned: [] };
      const rateRatio: number[] = [];
      const cpuRatio: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const row: Record<string, { rps: number; cpu: number }> = {};
        for (const [name, server] of r % 2 === 0 ? servers : [...servers].reverse()) {
          const measured = await wrk(server.base, targets[name] as Target, connections, seconds, server.pid);
          if (measured.errors + measured.non2xx > 0) throw new Error(`${name}: ${measured.errors} errors, ${measured.non2xx} non-2xx`);
          row[name] = { rps: measured.rps, cpu: measured.cpuMs ?? Number.NaN };
          rate[name]?.push(measured.rps);
          cpu[name]?.push(measured.cpuMs ?? Number.NaN);
        }
        rateRatio.push((row.app as { rps: number }).rps / (row.minimal as { rps: number }).rps);
        cpuRatio.push((row.app as { cpu: number }).cpu / (row.minimal as { cpu: number }).cpu);
      }
      const limit = bestImageLimit(image.file, Math.min(4, seconds));
      const rateHolds = quantile(rateRatio) >= RATE_BAR;
      const cpuHolds = quantile(cpuRatio) <= CPU_BAR;
      lines.push(
        `| ${image.name} | ${range(rate.app as number[], 0)} | ${range(rate.minimal as number[], 0)} | ${range(rateRatio, 2)} | ${rateHolds ? 'yes' : '**no**'} | ${range(cpu.app as number[], 2)} | ${range(cpu.minimal as number[], 2)} | ${range(cpuRatio, 2)} | ${cpuHolds ? 'yes' : '**no**'} | ${limit.toFixed(0)} /s: app ${(quantile(rate.app as number[]) / limit).toFixed(2)}×, minimal ${(quantile(rate.minimal as number[]) / limit).toFixed(2)}× | ${range(rate.tuned as number[], 0)} /s, ${range(cpu.tuned as number[], 2)} ms |`,
      );
    }
  } finally {
    await app.stop();
    await minimal.stop();
    await tuned.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const after = loadAverage();
  say(`## Image predictions against the minimal HTTP server (issue 24, must hold 2): ${rounds} alternating rounds

${new Date().toISOString()}; load average before ${before}, after ${after}. wrk at ${connections} connections, ${seconds} s per server and round, the order alternating every round; the app as \`npm start\` starts it, the minimal server (bench/minimal-server.ts) with the same node flags, and the same minimal server with the app's onnxruntime and libvips settings (one thread each) in the same rotation. Medians (ranges) over the rounds; the ratios are per round.

| upload | app images/s | minimal images/s | app / minimal (bar ≥ ${RATE_BAR}) | holds | app CPU ms/image | minimal CPU ms/image | app / minimal CPU (bar ≤ ${CPU_BAR}) | holds | in-process limit (best of 1, 2, 4 in flight) | for reference: the minimal server with the app's settings |
|---|---:|---:|---:|---|---:|---:|---:|---|---|---|
${lines.join('\n')}`);
}

if (require.main === module) {
  requireWrk();
  buildIfStale();
  minimalSection((line = '') => console.log(line), {
    rounds: wholeOption('rounds'),
    seconds: wholeOption('seconds'),
    connections: wholeOption('connections'),
  }).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
