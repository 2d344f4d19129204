/**
 * The multi-image table's browser code: src/browser/batch.ts and the shared modules it imports
 * (the table's rules, the batch CSV rows, the percent format), bundled by esbuild into
 * public/batch.js, which express.static serves. Part of `npm run build` (and of `npm run dev`);
 * the browser test runs it too, so it never tests a stale bundle.
 *
 * Usage: node dist/src/build/batch.js   (or tsx src/build/batch.ts)
 */
import path from 'node:path';
import * as esbuild from 'esbuild';
import { projectRoot } from '../config';

export const BATCH_BUNDLE = path.join('public', 'batch.js');

export async function buildBatchBundle(root = projectRoot()): Promise<string> {
  const outfile = path.join(root, BATCH_BUNDLE);
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: ['src/browser/batch.ts'],
    outfile,
    bundle: true,
    format: 'iife',
    platform: 'browser',
    // fetch streams, DataTransfer and <template> are in every browser this targets.
    target: ['chrome90', 'edge90', 'firefox90', 'safari14.1'],
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  return outfile;
}

if (require.main === module) {
  buildBatchBundle().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
