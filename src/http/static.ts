/**
 * Static files the build prepared (src/build/browser.ts → dist/public/assets.json): the page
 * script, the browser engine and their content-hashed chunks, onnxruntime-web's WebAssembly
 * (served straight from the app's own node_modules), the service worker, the files in public/, and the model files the
 * browser engine downloads. Each is sent precompressed (brotli, else gzip, as the request
 * accepts) with `Vary: Accept-Encoding`; content-hashed URLs are cached for a year, immutable.
 *
 * A file in public/ or models/ that changed after the build is not served from a stale compressed
 * copy: its sha256 is checked against the build's at start-up (models: against their card).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Request, RequestHandler, Response } from 'express';
import { notFound, unavailable } from '../errors';
import type { Registry } from '../predictors/registry';
import type { ModelCard } from '../predictors/types';
import type { Endpoint } from './endpoint';

export type Encoding = 'br' | 'gzip';

export interface AssetEntry {
  /** The uncompressed file, relative to the project root. */
  file: string;
  sha256: string;
  /** The URL has the content's hash in it: it never changes, so caches may keep it forever. */
  immutable: boolean;
  /** Compressed copies, relative to the project root; absent where compressing saved too little. */
  encodings: Partial<Record<Encoding, string>>;
}

/** dist/public/assets.json. */
export interface AssetManifest {
  /** URL of the engine's entry module, for the page's <script type="module">. */
  engine: string;
  /** URL of the page script's module (src/browser/page.ts), for the page's other <script type="module">. */
  page?: string;
  /** URL path → file. */
  files: Record<string, AssetEntry>;
}

export const MANIFEST_FILE = path.join('dist', 'public', 'assets.json');
const YEAR = 'public, max-age=31536000, immutable';
/** Revalidated on every use (an ETag makes that a 304): the service worker and unhashed files. */
const REVALIDATE = 'no-cache';

export function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * The best encoding a request accepts among those available, br before gzip (the server's choice
 * among acceptable codings; browsers list gzip first at equal weight). null: send it as it is.
 */
export function pickEncoding(acceptEncoding: string | undefined, available: readonly Encoding[]): Encoding | null {
  const weights = new Map<string, number>();
  for (const part of (acceptEncoding ?? '').split(',')) {
    const [name = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    if (name === '') continue;
    const q = params.find((p) => p.startsWith('q='));
    const weight = q === undefined ? 1 : Number(q.slice(2));
    weights.set(name, Number.isFinite(weight) ? weight : 0);
  }
  for (const encoding of available) {
    if ((weights.get(encoding) ?? weights.get('*') ?? 0) > 0) return encoding;
  }
  return null;
}

/**
 * Sends `file` (or its best compressed copy) as the type of `file`'s extension. With `sha256`, the
 * ETag is the content's (stable across deploys), one per encoding; otherwise send's own.
 */
export function sendAsset(
  req: Request,
  res: Response,
  root: string,
  entry: Pick<AssetEntry, 'file' | 'encodings'> & { sha256?: string },
  cacheControl: string,
): void {
  const available = (['br', 'gzip'] as const).filter((e) => entry.encodings[e] !== undefined);
  const encoding = pickEncoding(req.get('accept-encoding'), available);
  if (available.length > 0) res.vary('Accept-Encoding');
  res.type(path.extname(entry.file) === '.onnx' ? 'application/octet-stream' : path.extname(entry.file));
  if (encoding !== null) res.set('Content-Encoding', encoding);
  res.set('Cache-Control', cacheControl);
  if (entry.sha256 !== undefined)
    res.set('ETag', `"${entry.sha256.slice(0, 32)}${encoding === null ? '' : `-${encoding}`}"`);
  const file = encoding === null ? entry.file : (entry.encodings[encoding] as string);
  res.sendFile(path.join(root, file), { cacheControl: false, dotfiles: 'deny' });
}

export class StaticAssets {
  private readonly files = new Map<string, AssetEntry>();

  /**
   * `manifest` null: the browser build was not run; the page then offers the server only.
   * `editable`: files in public/ may change while the server runs (development), so they are left
   * to express.static, uncompressed, rather than checked once here.
   */
  constructor(
    readonly root: string,
    private readonly manifest: AssetManifest | null,
    options: { editable?: boolean } = {},
  ) {
    for (const [url, entry] of Object.entries(manifest?.files ?? {})) {
      const file = path.join(root, entry.file);
      if (!fs.existsSync(file)) continue;
      // Generated and hashed files are what the build wrote; public/ may have been edited since.
      const source = !entry.immutable && entry.file.startsWith('public/');
      if (source && (options.editable === true || sha256File(file) !== entry.sha256)) continue;
      this.files.set(url, entry);
    }
  }

  static load(root: string, options: { editable?: boolean } = {}): StaticAssets {
    const file = path.join(root, MANIFEST_FILE);
    const manifest = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as AssetManifest) : null;
    return new StaticAssets(root, manifest, options);
  }

  /** The engine's entry module, or null when it was not built. */
  get engineScript(): string | null {
    const url = this.manifest?.engine;
    return url !== undefined && this.files.has(url) ? url : null;
  }

  /** The page script's module, or null when it was not built: the page is then plain forms. */
  get pageScript(): string | null {
    const url = this.manifest?.page;
    return url !== undefined && this.files.has(url) ? url : null;
  }

  /** Serves every built file except models (see modelFileEndpoint); other requests fall through. */
  middleware(): RequestHandler {
    return (req, res, next) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return next();
      const entry = req.path.startsWith('/models/') ? undefined : this.files.get(req.path);
      if (entry === undefined) return next();
      sendAsset(req, res, this.root, entry, entry.immutable ? YEAR : REVALIDATE);
    };
  }

  /** Compressed copies of the model file at `url`, if the build made them from these very bytes. */
  modelEncodings(url: string, sha256: string): AssetEntry['encodings'] {
    const entry = this.files.get(url);
    return entry !== undefined && entry.sha256 === sha256 ? entry.encodings : {};
  }
}

/**
 * The model files a card offers the browser engine: its own version (the float file the server
 * runs) and, if its `quantized` section names one, the 8-bit version made from it
 * (training/quantized-card.ts), each with the sha256 the card gives.
 */
export function cardFiles(card: ModelCard): Array<{ version: string; sha256: string }> {
  const files = [{ version: card.version, sha256: card.artifact.sha256 }];
  const q = (card as { quantized?: { version?: unknown; artifact?: { sha256?: unknown } } }).quantized;
  if (typeof q?.version === 'string' && typeof q.artifact?.sha256 === 'string' && q.version !== card.version) {
    files.push({ version: q.version, sha256: q.artifact.sha256 });
  }
  return files;
}

/**
 * GET /models/<name>/<version>/model.onnx: the file of a model the server runs, or of the 8-bit
 * version its card names, for the browser engine, which checks it against the sha256 in the
 * model's card. Documented in /openapi.json.
 */
export function modelFileEndpoint(deps: { registry: Registry; modelsDir: string; assets: StaticAssets }): Endpoint {
  return {
    method: 'get',
    path: '/models/:name/:version/model.onnx',
    operationId: 'modelFile',
    tag: 'Models',
    summary: 'A model file (ONNX)',
    description:
      'The model.onnx of a model the server runs, in the version /api/models names (`artifact.sha256` there is its sha256): what the in-browser engine (/?engine=browser) downloads. Sent brotli- or gzip-compressed where the request accepts it; revalidate with If-None-Match.',
    responses: {
      200: { description: 'The ONNX file.', media: ['application/octet-stream'] },
      304: { description: 'Not modified: the copy named by If-None-Match is current.' },
    },
    errors: ['not_found', 'models_loading'],
    handlers: [
      (req, res) => {
        if (!deps.registry.ready) {
          throw unavailable('models_loading', 'The models are still loading. Try again in a few seconds.', 2);
        }
        const card = deps.registry.cards().find((c) => c.name === req.params.name);
        const offered = card === undefined ? undefined : cardFiles(card).find((f) => f.version === req.params.version);
        const onDisk =
          card === undefined || offered === undefined
            ? null
            : path.join(deps.modelsDir, card.name, offered.version, 'model.onnx');
        // A web tier whose model tier runs a version this server's models/ lacks has no file to give.
        if (offered === undefined || onDisk === null || !fs.existsSync(onDisk))
          throw notFound(`No model file at ${req.path}.`);
        const file = path.relative(deps.assets.root, onDisk);
        const sha256 = offered.sha256;
        const encodings = deps.assets.modelEncodings(req.path, sha256);
        sendAsset(req, res, deps.assets.root, { file, sha256, encodings }, REVALIDATE);
      },
    ],
  };
}
