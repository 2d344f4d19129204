import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Store } from '../../src/database/types';
import { SqliteStore } from '../../src/database/sqlite';
import { startMonitoring } from '../../src/monitoring/setup';
import { createApp } from '../../app';
import { loadConfig } from '../../src/config';
import { StaticAssets } from '../../src/http/static';
import type { InferenceBackend } from '../../src/inference/backend';
import { OnnxBackend } from '../../src/inference/onnx';
import { Lifecycle } from '../../src/lifecycle';
import type { ModelDefinition } from '../../src/models/model';
import { Registry } from '../../src/predictors/registry';
import { FakeBackend } from './fake-backend';
import { SPLIT, behindModelTier } from './oip';

export const MODELS_DIR = path.join(__dirname, '..', '..', 'models');

/**
 * An app around the given backend, with the real model cards; models loaded unless `load: false`.
 * `table`: the models it serves (default MODELS), their cards in `modelsDir` (default models/).
 */
export async function buildApp<B extends InferenceBackend = FakeBackend>(
  options: {
    backend?: B;
    load?: boolean;
    env?: Record<string, string>;
    assets?: StaticAssets;
    table?: readonly ModelDefinition[];
    modelsDir?: string;
    /**
     * The prediction log, feedback and /monitor (issue 26), on a fresh SQLite file in a temp
     * folder unless a store is given; close it with `monitoring.close()`. Off by default.
     */
    monitoring?: boolean | { store: Store };
  } = {},
) {
  const config = loadConfig({ NODE_ENV: 'test', ...(options.modelsDir === undefined ? {} : { MODELS_DIR: options.modelsDir }), ...options.env });
  const backend = (options.backend ?? new FakeBackend()) as B;
  // In split mode (jest project "split") the same backend answers behind a real model tier.
  const served = SPLIT ? await behindModelTier(backend) : backend;
  const registry = new Registry(served, options.modelsDir ?? MODELS_DIR, { maxPixels: config.maxImagePixels }, options.table === undefined ? {} : { table: options.table });
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
  // Without the browser build, whether or not `npm run build` has run here (tests/http/static.test.ts passes one).
  const assets = options.assets ?? new StaticAssets(path.join(__dirname, '..', '..'), null);
  const monitoring =
    options.monitoring === undefined || options.monitoring === false
      ? null
      : await startMonitoring(config, {
          registry,
          log,
          store: options.monitoring === true ? new SqliteStore(path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ml-forms-log-')), 'log.sqlite')) : options.monitoring.store,
        });
  if (monitoring !== null && options.load !== false) await monitoring.modelsLoaded();
  const app = createApp({ config, registry, lifecycle, log, assets, monitoring });
  return { app, config, registry, lifecycle, backend, errors, infos, monitoring };
}

export const realBackend = (): OnnxBackend => new OnnxBackend();

/** A synthetic round "cell" (no dataset image is committed); the API's examples draw the same. */
export { cellImage } from './cell-image';
