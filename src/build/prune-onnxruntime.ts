/**
 * Heroku build step (npm run heroku-postbuild): onnxruntime-node ships native binaries for every
 * OS and CPU (~290 MB); the dyno needs only linux/x64. onnxruntime-web ships every variant of its
 * runtime (~140 MB: WebGPU, WebGL, JSPI, asyncify, each in several bundles); the app serves one
 * file of it, the WebAssembly the browser build lists in dist/public/assets.json (the JavaScript
 * is bundled into dist/public/engine/). Removing the rest keeps the slug small.
 * Usage: node dist/src/build/prune-onnxruntime.js [--dry-run]
 */
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../config';
import { type AssetManifest, MANIFEST_FILE } from '../http/static';

const KEEP = `${process.platform}/${process.arch}`;

function sizeOf(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    total += entry.isDirectory() ? sizeOf(p) : fs.statSync(p).size;
  }
  return total;
}

/** onnxruntime-web's files that no URL of the browser build serves; none without a build. */
function pruneWeb(root: string, dryRun: boolean): void {
  const web = path.join(root, 'node_modules', 'onnxruntime-web');
  const manifestFile = path.join(root, MANIFEST_FILE);
  if (!fs.existsSync(web) || !fs.existsSync(manifestFile)) {
    console.log('onnxruntime-web or the browser build missing; onnxruntime-web not pruned');
    return;
  }
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as AssetManifest;
  const served = new Set(Object.values(manifest.files).map((e) => path.join(root, e.file)));
  let freed = 0;
  const candidates = [
    ...fs.readdirSync(path.join(web, 'dist')).map((f) => path.join(web, 'dist', f)),
    path.join(web, 'lib'), // the TypeScript sources
  ];
  for (const p of candidates) {
    if (served.has(p) || !fs.existsSync(p)) continue;
    freed += fs.statSync(p).isDirectory() ? sizeOf(p) : fs.statSync(p).size;
    if (!dryRun) fs.rmSync(p, { recursive: true, force: true });
  }
  console.log(
    `${dryRun ? 'would remove' : 'removed'} ${(freed / 1e6).toFixed(0)} MB of onnxruntime-web the app does not serve`,
  );
}

function main(): void {
  const dryRun = process.argv.includes('--dry-run');
  pruneWeb(projectRoot(), dryRun);
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
  console.log(
    `${dryRun ? 'would remove' : 'removed'} ${(freed / 1e6).toFixed(0)} MB of onnxruntime binaries for other platforms (kept ${KEEP})`,
  );
}

main();
