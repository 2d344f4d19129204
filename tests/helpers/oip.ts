/** Builders for the model tier in tests: the OIP app around a store, and a real listener for clients. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { loadConfig } from '../../src/config';
import type { InferenceBackend } from '../../src/inference/backend';
import { OnnxBackend } from '../../src/inference/onnx';
import { Lifecycle } from '../../src/lifecycle';
import type { Store } from '../../src/database/types';
import { MODELS } from '../../src/models';
import { openTierLog } from '../../src/oip/log';
import { createModelServer } from '../../src/oip/server';
import { ModelStore } from '../../src/oip/store';
import { RemoteBackend } from '../../src/inference/remote';

const MODELS_DIR = path.join(__dirname, '..', '..', 'models');

export interface ModelServerOptions {
  /** A fresh backend for each (re)load; default onnxruntime in this thread. */
  createBackend?: () => Promise<InferenceBackend>;
  repo?: string;
  env?: Record<string, string>;
  /** Load the models before returning (default true). */
  load?: boolean;
  /** The prediction log of the runs clients ask for (src/oip/log.ts), on this store; close it with `predictionLog.close()`. Off by default. */
  log?: { store: Store };
}

/** The model tier's app around the repository (the real one unless `repo`), as supertest drives it. */
export async function buildModelServer(options: ModelServerOptions = {}) {
  const config = loadConfig({ NODE_ENV: 'test', ...options.env });
  const errors: unknown[] = [];
  const log = { info: () => undefined, warn: () => undefined, fatal: () => undefined, error: (obj: unknown) => void errors.push(obj) };
  const store = new ModelStore({ repo: options.repo ?? MODELS_DIR, createBackend: options.createBackend ?? (async () => new OnnxBackend()), log });
  if (options.load !== false) await store.reload();
  const lifecycle = new Lifecycle();
  const logged = options.log === undefined ? null : await openTierLog(config, { log, store: options.log.store, table: MODELS });
  const app = createModelServer({ config, store, lifecycle, log, ...(logged === null ? {} : { tierLog: logged.tierLog }) });
  return { app, store, config, lifecycle, errors, predictionLog: logged?.predictionLog ?? null };
}

export interface Listening {
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

/** Serves `app` on a free loopback port. */
export async function listen(app: http.RequestListener): Promise<Listening> {
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Split mode (the jest project "split", ML_FORMS_SPLIT=1): the HTTP tests run with the web app's
 * models behind a real model tier on a loopback port. `backend` (the fake or the real models)
 * answers inside that tier; the app talks to it through RemoteBackend, the OIP v2 client.
 */
export const SPLIT = process.env.ML_FORMS_SPLIT === '1';

const tiers: { close(): Promise<unknown> }[] = [];

/** A model tier around `backend`, and a client backend pointing at it. */
export async function behindModelTier(backend: InferenceBackend): Promise<RemoteBackend> {
  const tier = await buildModelServer({ createBackend: async () => backend });
  const listening = await listen(tier.app);
  const client = new RemoteBackend({ url: listening.url, timeoutMs: 10_000, retries: 2 });
  tiers.push({ close: () => client.close() }, listening, { close: () => tier.store.close() });
  return client;
}

/** Closes every model tier this test file started (setupFilesAfterEnv registers it in split mode). */
export async function closeModelTiers(): Promise<void> {
  for (const t of tiers.splice(0)) await t.close();
}
