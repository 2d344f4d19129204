/**
 * The browser side of `npm run build`, after tsc:
 *  - the multi-image table's bundle, public/batch.js (src/build/batch.ts);
 *  - bundles the page script (src/browser/page.ts) and the engine (src/browser/engine.ts, and the
 *    runtime chunk with onnxruntime-web that it imports lazily) with esbuild, content-hashed names,
 *    into dist/public/engine/ (code both import, from src/core/, is one shared chunk);
 *  - serves onnxruntime-web's WebAssembly (ort-wasm-simd-threaded.wasm, the one variant used)
 *    straight from node_modules under a content-hashed URL;
 *  - writes dist/public/download.json (/download.json, src/browser/download.ts): what the browser
 *    engine downloads, the runtime and each precision's model files, in bytes as served (brotli),
 *    which the engine switch says before the visitor opts in;
 *  - bundles the service worker (src/browser/sw.ts) to dist/public/sw.js with the list of files
 *    it keeps;
 *  - precompresses (brotli quality 11, gzip 9) each served file where that saves at least 5 %:
 *    those above, public/*, and the models' model.onnx files (the float version the card names and
 *    the 8-bit version of its `quantized` section). Compressed copies are named by the
 *    content's hash (dist/public/z/), so a rebuild compresses only what changed (the 14 MB
 *    WebAssembly takes about a minute on a loaded 2-core machine);
 *  - writes dist/public/assets.json, which src/http/static.ts serves from.
 *
 * Usage: node dist/src/build/browser.js   (or tsx src/build/browser.ts)
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import * as esbuild from 'esbuild';
import { projectRoot } from '../config';
import { buildBatchBundle } from './batch';
import { copyExampleImages } from './examples';
import { runtimeOutputs } from './runtime-outputs';
import type { DownloadSizes, Precision, Sizes } from '../browser/download';
import type { AssetEntry, AssetManifest, Encoding } from '../http/static';
import { MANIFEST_FILE, cardFiles } from '../http/static';
import { KIND_STATUS } from '../http/status';
import { MODEL_NAMES, modelSpec, readCard } from '../predictors/registry';

const brotli = promisify(zlib.brotliCompress);
const gzip = promisify(zlib.gzip);

/** The onnxruntime-web file the engine uses; everything else in its dist/ is never served. */
export const ORT_WASM = path.join('node_modules', 'onnxruntime-web', 'dist', 'ort-wasm-simd-threaded.wasm');
/** Compressing must save at least this share to be worth a second file. */
const MIN_SAVING = 0.05;
/** Browsers that run the engine: WebAssembly SIMD, OffscreenCanvas, module workers. */
const TARGET = ['chrome109', 'edge109', 'firefox115', 'safari16.4'];

/**
 * The shared input checks (src/fields.ts) use zod, whose namespace object carries translations of
 * its own messages into 40 languages (z.locales, ~260 KB minified). The app's messages are its
 * own and English, zod's default, is registered elsewhere, so the browser bundle leaves them out.
 */
const withoutZodLocales: esbuild.Plugin = {
  name: 'without-zod-locales',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]/.test(args.importer) ? { path: 'zod-locales', namespace: 'empty' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'empty' }, () => ({ contents: 'export {};', loader: 'js' }));
  },
};

const sha256 = (bytes: Uint8Array): string => crypto.createHash('sha256').update(bytes).digest('hex');

/**
 * Each file's sha256, computed once per build though used twice: the WebAssembly (14 MB), the
 * bundles and public/ need it for their URL or the service worker's list, then for the manifest.
 */
function fileHashes(): (file: string, bytes?: Uint8Array) => string {
  const known = new Map<string, string>();
  return (file, bytes) => {
    let hash = known.get(file);
    if (hash === undefined) {
      hash = sha256(bytes ?? fs.readFileSync(file));
      known.set(file, hash);
    }
    return hash;
  };
}

const rel = (root: string, file: string): string => path.relative(root, file).split(path.sep).join('/');

async function compressed(root: string, zdir: string, bytes: Buffer, hash: string): Promise<AssetEntry['encodings']> {
  const out: AssetEntry['encodings'] = {};
  const codecs: Array<[Encoding, () => Promise<Buffer>]> = [
    [
      'br',
      () =>
        brotli(bytes, {
          params: {
            [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
            [zlib.constants.BROTLI_PARAM_LGWIN]: 24,
            [zlib.constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
          },
        }),
    ],
    ['gzip', () => gzip(bytes, { level: 9 })],
  ];
  for (const [encoding, compress] of codecs) {
    const file = path.join(zdir, `${hash.slice(0, 32)}.${encoding === 'br' ? 'br' : 'gz'}`);
    const skipped = `${file}.none`; // remembers that compressing this content did not pay
    if (fs.existsSync(skipped)) continue;
    if (!fs.existsSync(file)) {
      const data = await compress();
      if (data.length > bytes.length * (1 - MIN_SAVING)) {
        fs.writeFileSync(skipped, '');
        continue;
      }
      fs.writeFileSync(file, data);
    }
    out[encoding] = rel(root, file);
  }
  return out;
}

function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]))
    .sort();
}

/**
 * models/<name>/<version>/model.onnx of each model that has a card in `modelsDir`, read as the
 * server reads it, and of the 8-bit version its card names; `precisions`: the browser's choices
 * that download it.
 */
function modelFiles(modelsDir: string): Array<{ url: string; file: string; precisions: Precision[] }> {
  return MODEL_NAMES.filter((name) => fs.existsSync(path.join(modelsDir, name, 'card.json')))
    .map((name) => readCard(modelsDir, name))
    .flatMap((card) => {
      const spec = modelSpec(modelsDir, card);
      const [float, q8] = cardFiles(card);
      return [float, q8]
        .filter((f) => f !== undefined)
        .map((f) => ({
          url: `/models/${card.name}/${f.version}/model.onnx`,
          file: path.join(path.dirname(path.dirname(spec.path)), f.version, 'model.onnx'),
          precisions: (f === q8 ? ['8-bit'] : q8 === undefined ? ['8-bit', 'float'] : ['float']) as Precision[],
        }));
    })
    .filter((m) => fs.existsSync(m.file));
}

export async function buildBrowser(
  root = projectRoot(),
  log: (line: string) => void = console.log,
): Promise<AssetManifest> {
  const started = Date.now();
  // public/batch.js and the example images first: the service worker keeps what public/ holds, and
  // its list is made below.
  await buildBatchBundle(root);
  copyExampleImages(root, undefined, log);
  const out = path.join(root, 'dist', 'public');
  const engineDir = path.join(out, 'engine');
  const zdir = path.join(out, 'z');
  fs.mkdirSync(zdir, { recursive: true });

  const hashOf = fileHashes();
  const files: Record<string, { file: string; immutable: boolean }> = {};
  const wasm = path.join(root, ORT_WASM);
  const wasmUrl = `/engine/ort-wasm-simd-threaded-${hashOf(wasm).slice(0, 12)}.wasm`;
  files[wasmUrl] = { file: wasm, immutable: true };

  const engine = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { page: 'src/browser/page.ts', engine: 'src/browser/engine.ts' },
    outdir: engineDir,
    entryNames: '[name]-[hash]',
    chunkNames: '[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: TARGET,
    minify: true,
    metafile: true,
    logLevel: 'warning',
    define: { __ORT_WASM_URL__: JSON.stringify(wasmUrl), __ERROR_STATUS__: JSON.stringify(KIND_STATUS) },
    plugins: [withoutZodLocales],
  });
  let entryUrl = ''; // the runtime chunk is an entry point too (a dynamic import): pick the engine's
  let pageUrl = '';
  for (const [output, meta] of Object.entries(engine.metafile.outputs)) {
    const url = `/engine/${path.basename(output)}`;
    files[url] = { file: path.join(root, output), immutable: true };
    if (meta.entryPoint === 'src/browser/engine.ts') entryUrl = url;
    if (meta.entryPoint === 'src/browser/page.ts') pageUrl = url;
  }

  // Older builds' bundles go only now, after the new ones are written: a server running from this
  // folder (another test process) never finds its files missing while names stay the same.
  for (const f of walk(engineDir)) if (files[`/engine/${path.basename(f)}`] === undefined) fs.rmSync(f);

  const models = modelFiles(path.join(root, 'models'));
  const sizes = async (list: string[]): Promise<Sizes> => {
    const out: Sizes = { served: 0, bytes: 0 };
    for (const file of list) {
      const bytes = fs.readFileSync(file);
      const enc = await compressed(root, zdir, bytes, hashOf(file, bytes));
      out.bytes += bytes.length;
      out.served += enc.br === undefined ? bytes.length : fs.statSync(path.join(root, enc.br)).size;
    }
    return out;
  };
  const ofPrecision = async (p: Precision): Promise<DownloadSizes['models'][Precision]> => {
    const list = models.filter((m) => m.precisions.includes(p));
    return { ...(await sizes(list.map((m) => m.file))), files: list.map((m) => m.url) };
  };
  const download: DownloadSizes = {
    runtime: await sizes([wasm, ...runtimeOutputs(engine.metafile.outputs).map((o) => path.join(root, o))]),
    models: { '8-bit': await ofPrecision('8-bit'), float: await ofPrecision('float') },
  };
  const downloadFile = path.join(out, 'download.json');
  fs.writeFileSync(downloadFile, `${JSON.stringify(download, null, 2)}\n`);
  files['/download.json'] = { file: downloadFile, immutable: false };

  const publicDir = path.join(root, 'public');
  const shell = ['/', ...walk(publicDir).map((f) => `/${rel(publicDir, f)}`), '/download.json'];
  for (const url of shell.slice(1, -1)) files[url] = { file: path.join(publicDir, url), immutable: false };
  const precache = [...shell, ...Object.keys(files).filter((u) => u.startsWith('/engine/'))];
  // The worker's bytes change whenever a file it keeps does, so browsers install the new one.
  const kept = precache.filter((u) => u !== '/').map((u) => `${u} ${hashOf((files[u] as { file: string }).file)}`);
  const build = sha256(Buffer.from(kept.join('\n'))).slice(0, 12);
  const sw = await esbuild.build({
    absWorkingDir: root,
    entryPoints: ['src/browser/sw.ts'],
    outfile: path.join(out, 'sw.js'),
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: TARGET,
    minify: true,
    write: true,
    logLevel: 'warning',
    define: { __PRECACHE__: JSON.stringify(precache), __BUILD__: JSON.stringify(build) },
  });
  if (sw.errors.length > 0) throw new Error('service worker build failed');
  files['/sw.js'] = { file: path.join(out, 'sw.js'), immutable: false };

  for (const m of models) files[m.url] = { file: m.file, immutable: false };

  const manifest: AssetManifest = { engine: entryUrl, page: pageUrl, files: {} };
  await Promise.all(
    Object.entries(files).map(async ([url, { file, immutable }]) => {
      const bytes = fs.readFileSync(file);
      const hash = hashOf(file, bytes);
      manifest.files[url] = {
        file: rel(root, file),
        sha256: hash,
        immutable,
        encodings: await compressed(root, zdir, bytes, hash),
      };
    }),
  );
  manifest.files = Object.fromEntries(Object.entries(manifest.files).sort(([a], [b]) => (a < b ? -1 : 1)));

  // Compressed copies of content no file has any more (older builds) are removed.
  const hashes = new Set(Object.values(manifest.files).map((e) => e.sha256.slice(0, 32)));
  for (const f of walk(zdir)) if (!hashes.has(path.basename(f).slice(0, 32))) fs.rmSync(f);
  const manifestFile = path.join(root, MANIFEST_FILE);
  fs.writeFileSync(`${manifestFile}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  fs.renameSync(`${manifestFile}.tmp`, manifestFile);

  const size = (url: string, enc?: Encoding): number => {
    const e = manifest.files[url] as AssetEntry;
    const file = enc === undefined ? e.file : e.encodings[enc];
    return file === undefined ? NaN : fs.statSync(path.join(root, file)).size;
  };
  for (const url of Object.keys(manifest.files)) {
    log(
      `  ${url.padEnd(52)} ${String(size(url)).padStart(9)} B   br ${String(size(url, 'br')).padStart(8)}   gzip ${String(size(url, 'gzip')).padStart(8)}`,
    );
  }
  log(`browser build: ${Object.keys(manifest.files).length} files in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return manifest;
}

if (require.main === module) {
  buildBrowser().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
