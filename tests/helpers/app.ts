import path from 'node:path';
import sharp from 'sharp';
import { createApp } from '../../app';
import { loadConfig } from '../../src/config';
import type { InferenceBackend } from '../../src/inference/backend';
import { OnnxBackend } from '../../src/inference/onnx';
import { Lifecycle } from '../../src/lifecycle';
import { Registry } from '../../src/predictors/registry';
import { FakeBackend } from './fake-backend';

export const MODELS_DIR = path.join(__dirname, '..', '..', 'models');

/** An app around the given backend, with the real model cards; models loaded unless `load: false`. */
export async function buildApp<B extends InferenceBackend = FakeBackend>(
  options: { backend?: B; load?: boolean; env?: Record<string, string> } = {},
) {
  const config = loadConfig({ NODE_ENV: 'test', ...options.env });
  const backend = (options.backend ?? new FakeBackend()) as B;
  const registry = new Registry(backend, MODELS_DIR, { maxPixels: config.maxImagePixels });
  if (options.load !== false) await registry.load();
  const lifecycle = new Lifecycle();
  const errors: unknown[] = [];
  const infos: Record<string, unknown>[] = [];
  const log = {
    info: (obj: unknown) => void infos.push(obj as Record<string, unknown>),
    warn: () => undefined,
    fatal: () => undefined,
    error: (obj: unknown) => void errors.push(obj),
  };
  const app = createApp({ config, registry, lifecycle, log });
  return { app, config, registry, lifecycle, backend, errors, infos };
}

export const realBackend = (): OnnxBackend => new OnnxBackend();

/** A synthetic round "cell" (no dataset image is committed), rendered from SVG by sharp. */
export async function cellImage(
  format: 'png' | 'jpeg' | 'webp' | 'gif' = 'png',
  options: { size?: number; parasite?: boolean } = {},
): Promise<Buffer> {
  const size = options.size ?? 128;
  const r = size * 0.42;
  const c = size / 2;
  const parasite = options.parasite
    ? `<circle cx="${c + r * 0.3}" cy="${c - r * 0.2}" r="${r * 0.18}" fill="#4b1d6e"/><circle cx="${c + r * 0.3}" cy="${c - r * 0.2}" r="${r * 0.09}" fill="#2a0a45"/>`
    : '';
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}">
    <rect width="100%" height="100%" fill="black"/>
    <circle cx="${c}" cy="${c}" r="${r}" fill="#d9a3b0"/>
    <circle cx="${c}" cy="${c}" r="${r * 0.8}" fill="#e2b2bd"/>${parasite}</svg>`;
  return sharp(Buffer.from(svg)).toFormat(format).toBuffer();
}
