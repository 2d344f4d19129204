/**
 * Heroku build step (npm run heroku-postbuild): onnxruntime-node ships native binaries for every
 * OS and CPU (~290 MB); the dyno needs only linux/x64. Removing the rest keeps the slug small.
 * Usage: node dist/src/build/prune-onnxruntime.js [--dry-run]
 */
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../config';

const KEEP = `${process.platform}/${process.arch}`;

function sizeOf(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    total += entry.isDirectory() ? sizeOf(p) : fs.statSync(p).size;
  }
  return total;
}

function main(): void {
  const dryRun = process.argv.includes('--dry-run');
  const bin = path.join(projectRoot(), 'node_modules', 'onnxruntime-node', 'bin');
  if (!fs.existsSync(bin)) {
    console.log('onnxruntime-node not installed; nothing to prune');
    return;
  }
  let freed = 0;
  for (const napi of fs.readdirSync(bin)) {
    for (const platform of fs.readdirSync(path.join(bin, napi))) {
      for (const arch of fs.readdirSync(path.join(bin, napi, platform))) {
        if (`${platform}/${arch}` === KEEP) continue;
        const dir = path.join(bin, napi, platform, arch);
        freed += sizeOf(dir);
        if (!dryRun) fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  console.log(`${dryRun ? 'would remove' : 'removed'} ${(freed / 1e6).toFixed(0)} MB of onnxruntime binaries for other platforms (kept ${KEEP})`);
}

main();
