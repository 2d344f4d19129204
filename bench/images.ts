/**
 * Cell images for the benchmarks: a synthetic cell, a real one from the shared data beside the
 * repository, and the in-process image limit (bench/image-limit.ts run with the app's flags).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { ROOT, startScript } from './servers';

/** A pale pink disc on black, with two dark purple dots: roughly what a stained cell looks like. */
export async function syntheticCell(): Promise<Buffer> {
  const size = 130;
  const px = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3;
      const d = Math.hypot(x - 65, y - 65);
      if (d > 58) continue;
      const spot = Math.hypot(x - 50, y - 70) < 7 || Math.hypot(x - 80, y - 45) < 5;
      const noise = ((x * 7919 + y * 104729) % 17) - 8;
      px[i] = spot ? 110 : 215 + noise;
      px[i + 1] = spot ? 40 : 160 + noise;
      px[i + 2] = spot ? 140 : 170 + noise;
    }
  }
  return sharp(px, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

/**
 * The in-process image limit (bench/image-limit.ts, in a process of its own with the app's flags):
 * the plainest pipeline over `file` (an image, or a .list of image paths) with `concurrency` in flight.
 */
export function imageLimit(
  file: string,
  concurrency: number,
  seconds: number,
): { perSecond: number; cpuMsPerImage: number } {
  const start = startScript();
  const flags = start.args.filter((a) => a.startsWith('--'));
  const out = execFileSync(
    process.execPath,
    [
      ...flags,
      '--import',
      'tsx',
      path.join(ROOT, 'bench', 'image-limit.ts'),
      file,
      String(concurrency),
      String(seconds),
    ],
    {
      cwd: ROOT,
      env: { ...process.env, ...start.env },
      encoding: 'utf8',
    },
  );
  return JSON.parse(out.trim().split('\n').pop() as string) as { perSecond: number; cpuMsPerImage: number };
}

/** The in-process image limit over `file` with 1, 2 and 4 in flight, one after another: the best rate. */
export function bestImageLimit(file: string, seconds: number): number {
  return Math.max(...[1, 2, 4].map((c) => imageLimit(file, c, seconds).perSecond));
}

/** A real parasitized cell from the shared data beside the repository, if it is there. */
export function findRealCell(): string | null {
  const dir = path.join(ROOT, '..', 'shared', 'data', 'malaria', 'parasitized');
  try {
    const first = fs.readdirSync(dir).filter((f) => /\.(png|jpe?g|webp|gif)$/i.test(f)).sort()[0];
    return first === undefined ? null : path.join(dir, first);
  } catch {
    return null;
  }
}
