/**
 * createModelServer(deps) → the model tier's Express app: the Open Inference Protocol v2 over
 * HTTP/REST (KServe v2, as Triton serves it) for the models of the repository. Like app.ts it
 * never listens; src/oip/role.ts starts it (ROLE=models).
 *
 *   GET  /v2/health/live, /v2/health/ready                     200, or 503 while loading or stopping
 *   GET  /v2                                                   server metadata and its extensions
 *   GET  /v2/models/{name}[/versions/{v}]                      model metadata (Triton's shapes: batch first)
 *   GET  /v2/models/{name}[/versions/{v}]/ready                200, 404 unknown, 503 loading
 *   GET  /v2/models/{name}[/versions/{v}]/card                 the version's model card (extension "model_card")
 *   POST /v2/models/{name}[/versions/{v}]/infer                JSON tensors, or binary (Triton's extension)
 *   POST /v2/repository/index, /v2/repository/models/{name}/load   Triton's model-repository extension
 *   GET  /metrics                                              Prometheus, as in the web role
 *
 * Errors are {"error": "…"}: 400 bad request, 401 token, 404 unknown model or version, 413 body
 * too large, 503 (with Retry-After) loading, overloaded or stopping. With INFERENCE_TOKEN set,
 * everything but the two health checks requires `Authorization: Bearer <token>`.
 */
import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import express, { type ErrorRequestHandler, type Express, type Request, type RequestHandler, Router } from 'express';
import { type Config, projectRoot } from '../config';
import { HttpError, badRequest, notFound, payloadTooLarge, unsupportedMediaType } from '../errors';
import type { NamedTensors, Tensor } from '../inference/backend';
import { bearerCheck } from '../http/auth';
import { deadline } from '../http/deadline';
import { bodyParserError } from '../http/errors';
import { fullPath } from '../http/request-path';
import { Lifecycle } from '../lifecycle';
import { type Logger, requestLogger } from '../log';
import { Metrics } from '../metrics';
import {
  BINARY_HEADER,
  BinaryReader,
  type InferRequest,
  type InferResponse,
  type ServerMetadata,
  type WireTensor,
  decodeTensor,
  encodeTensor,
  readMessage,
  writeMessage,
} from './protocol';
import { type ModelConfig, RepositoryError, wireShape } from './repository';
import type { ModelStore } from './store';

export interface ModelServerDeps {
  config: Pick<Config, 'inferenceToken' | 'metricsToken' | 'modelMaxBodyBytes' | 'requestTimeoutMs'>;
  store: ModelStore;
  lifecycle?: Lifecycle;
  log?: Logger;
  metrics?: Metrics;
}

/** Extensions of the protocol this server implements ("model_card" is ours; Triton has the other two). */
export const EXTENSIONS = ['binary_tensor_data', 'model_repository', 'model_card'];

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined, fatal: () => undefined };

/** The request body, refused with 413 as soon as it is known to exceed `limit` (never buffered beyond it). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = (): HttpError =>
    payloadTooLarge('body_too_large', `the request body is larger than this server's limit of ${limit} bytes (MODEL_MAX_BODY_MB)`);
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') return Promise.reject(unsupportedMediaType('unsupported_encoding', `Content-Encoding ${encoding} is not supported; send the body uncompressed`));
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onError);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (): void => {
      cleanup();
      reject(badRequest('invalid_body', 'the request body could not be read completely'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onError);
  });
}

/** The top level of an inference request, checked; tensors are decoded separately. */
function inferRequest(json: unknown): InferRequest {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw badRequest('invalid_request', 'the request must be a JSON object with "inputs"');
  const r = json as Partial<InferRequest>;
  if (!Array.isArray(r.inputs) || r.inputs.length === 0) throw badRequest('invalid_request', 'the request needs "inputs": a non-empty list of tensors');
  if (r.id !== undefined && typeof r.id !== 'string') throw badRequest('invalid_request', '"id" must be a string');
  if (r.parameters !== undefined && (typeof r.parameters !== 'object' || r.parameters === null || Array.isArray(r.parameters))) {
    throw badRequest('invalid_request', '"parameters" must be an object');
  }
  if (r.outputs !== undefined) {
    if (!Array.isArray(r.outputs) || !r.outputs.every((o) => typeof o === 'object' && o !== null && typeof o.name === 'string')) {
      throw badRequest('invalid_request', '"outputs" must be a list of {"name": …}');
    }
  }
  return r as InferRequest;
}

const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * The request's inputs checked against the model's config, as Triton does: every declared input
 * once and nothing else, its datatype, its shape (the batch dimension first, 1…max_batch_size,
 * the same for every input), then reshaped to what the model itself takes.
 */
export function modelInputs(config: ModelConfig, wires: unknown[], binary: BinaryReader): NamedTensors {
  const feeds: NamedTensors = {};
  let batch: number | null = null;
  for (const wire of wires) {
    const { name, tensor } = decodeTensor(wire, binary, 'input');
    const spec = config.inputs.find((t) => t.name === name);
    if (spec === undefined) {
      throw badRequest('unknown_input', `model "${config.name}" has no input "${name}"; its inputs: ${config.inputs.map((t) => t.name).join(', ')}`);
    }
    if (feeds[name] !== undefined) throw badRequest('duplicate_input', `input "${name}" is given twice`);
    const datatype = (wire as WireTensor).datatype;
    if (datatype !== spec.datatype) throw badRequest('wrong_datatype', `input "${name}" of model "${config.name}" is ${spec.datatype}, not ${datatype}`);
    const expected = wireShape(config, spec);
    const dims = tensor.dims;
    const fits = dims.length === expected.length && dims.every((d, i) => (expected[i] === -1 ? d >= 1 : d === expected[i]));
    if (!fits) {
      const hint = config.maxBatchSize > 0 ? ' (the first dimension is the batch)' : '';
      throw badRequest('wrong_shape', `input "${name}" of model "${config.name}" must have shape ${shapeText(expected)}${hint}, got ${shapeText(dims)}`);
    }
    if (config.maxBatchSize > 0) {
      const n = dims[0] as number;
      if (n > config.maxBatchSize) throw badRequest('batch_too_large', `a batch of ${n} is more than model "${config.name}" takes (max_batch_size ${config.maxBatchSize})`);
      if (batch !== null && n !== batch) throw badRequest('wrong_shape', `every input needs the same batch size; got ${batch} and ${n}`);
      batch = n;
    }
    feeds[name] = spec.reshape === undefined ? tensor : reshaped(tensor, config.maxBatchSize > 0 ? [dims[0] as number, ...spec.reshape] : spec.reshape);
  }
  binary.finish();
  const missing = config.inputs.filter((t) => feeds[t.name] === undefined).map((t) => t.name);
  if (missing.length > 0) throw badRequest('missing_input', `model "${config.name}" needs input ${missing.map((n) => `"${n}"`).join(', ')}`);
  return feeds;
}

function reshaped(t: Tensor, shape: number[]): Tensor {
  const count = Array.isArray(t.data) ? t.data.length : t.data.length;
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  return { ...t, dims: shape.map((d) => (d === -1 ? count / known : d)) } as Tensor;
}

export function createModelServer(deps: ModelServerDeps): Express {
  const { store, config } = deps;
  const lifecycle = deps.lifecycle ?? new Lifecycle();
  const log = deps.log ?? silent;
  const metrics = deps.metrics ?? new Metrics({ processMetrics: false });
  const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as { name: string; version: string };
  const serverMetadata: ServerMetadata = { name: pkg.name, version: pkg.version, extensions: EXTENSIONS };
  const authorized = bearerCheck(config.inferenceToken);
  const ready = (): boolean => store.ready && !lifecycle.shuttingDown;

  /** Metric labels: bounded (a known model's name, or none), never the raw URL. */
  const label = (req: Request): { route: string; model: string } => {
    const p = fullPath(req);
    const m = /^\/v2\/models\/([^/]+)(\/versions\/[^/]+)?(\/infer|\/ready|\/card)?\/?$/.exec(p);
    if (m !== null) {
      const model = store.entries().some((e) => e.name === m[1]) ? (m[1] as string) : '';
      return { route: `/v2/models/:model${m[2] === undefined ? '' : '/versions/:version'}${m[3] ?? ''}`, model };
    }
    const repo = /^\/v2\/repository\/models\/[^/]+\/(load|unload)$/.exec(p);
    if (repo !== null) return { route: `/v2/repository/models/:model/${repo[1]}`, model: '' };
    if (['/v2', '/v2/health/live', '/v2/health/ready', '/v2/repository/index', '/metrics'].includes(p)) return { route: p, model: '' };
    return { route: 'other', model: '' };
  };

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', 1);
  app.use(metrics.middleware(label));
  app.get('/metrics', metrics.handler(deps.config.metricsToken));
  app.use(deadline({ timeoutMs: config.requestTimeoutMs }));
  app.use((_req, res, next) => {
    if (lifecycle.shuttingDown) res.set('Connection', 'close');
    next();
  });

  /** Liveness: the process answers. @route GET /v2/health/live */
  app.get('/v2/health/live', (_req, res) => {
    res.status(200).end();
  });
  /** Readiness: every model loaded, not stopping. @route GET /v2/health/ready */
  app.get('/v2/health/ready', (_req, res) => {
    if (ready()) res.status(200).end();
    else res.status(503).set('Retry-After', '2').json({ error: lifecycle.shuttingDown ? 'the server is shutting down' : 'the models are still loading' });
  });

  app.use(requestLogger(log));
  app.use((req, _res, next) => {
    if (authorized(req.get('authorization'))) next();
    else next(new HttpError('unauthorized', 'this model server requires Authorization: Bearer <INFERENCE_TOKEN>'));
  });

  const v2 = Router();
  const body: RequestHandler = async (req, _res, next) => {
    req.body = await readBody(req, config.modelMaxBodyBytes);
    next();
  };
  const model = (req: Request): { name: string; version?: string } => ({ name: req.params.name as string, version: req.params.version as string | undefined });

  /** Server metadata. @route GET /v2 */
  v2.get('/', (_req, res) => {
    res.json(serverMetadata);
  });

  /** Model metadata. @route GET /v2/models/{name}[/versions/{v}] */
  v2.get('/models/:name{/versions/:version}', (req, res) => {
    const { name, version } = model(req);
    res.json(store.resolve(name, version).entry.metadata);
  });

  /** Model readiness. @route GET /v2/models/{name}[/versions/{v}]/ready */
  v2.get('/models/:name{/versions/:version}/ready', (req, res) => {
    const { name, version } = model(req);
    store.resolve(name, version);
    if (lifecycle.shuttingDown) throw new HttpError('shutting_down', 'the server is shutting down', { retryAfter: 1 });
    res.status(200).end();
  });

  /** The version's model card (this server's extension "model_card"). @route GET /v2/models/{name}[/versions/{v}]/card */
  v2.get('/models/:name{/versions/:version}/card', (req, res) => {
    const { name, version } = model(req);
    const { entry } = store.resolve(name, version);
    if (entry.card === undefined) throw notFound(`model "${name}" version ${entry.version} has no card.json in the repository`);
    res.json(entry.card);
  });

  /** Inference. @route POST /v2/models/{name}[/versions/{v}]/infer */
  v2.post('/models/:name{/versions/:version}/infer', async (req, res) => {
    const { name, version } = model(req);
    store.resolve(name, version); // an unknown model or version: 404 before reading the body
    const { json, binary } = readMessage(await readBody(req, config.modelMaxBodyBytes), req.get(BINARY_HEADER));
    const request = inferRequest(json);
    // Resolved again now that the body is in: the sessions that run it are the ones current now.
    const resolved = store.resolve(name, version);
    const { config: modelConfig } = resolved.entry;
    const feeds = modelInputs(modelConfig, request.inputs, new BinaryReader(binary));
    const wanted: NonNullable<InferRequest['outputs']> = request.outputs ?? modelConfig.outputs.map((o) => ({ name: o.name }));
    for (const o of wanted) {
      if (!modelConfig.outputs.some((t) => t.name === o.name)) {
        throw badRequest('unknown_output', `model "${name}" has no output "${o.name}"; its outputs: ${modelConfig.outputs.map((t) => t.name).join(', ')}`);
      }
    }
    const outputs = await store.run(resolved, feeds);
    const allBinary = request.parameters?.binary_data_output === true;
    const chunks: Buffer[] = [];
    const response: InferResponse = {
      model_name: name,
      model_version: resolved.entry.version,
      ...(request.id === undefined ? {} : { id: request.id }),
      outputs: wanted.map((o) => {
        const t = outputs[o.name];
        if (t === undefined) throw new Error(`the model returned no output "${o.name}"`);
        const binaryOut = typeof o.parameters?.binary_data === 'boolean' ? o.parameters.binary_data : allBinary;
        const { wire, chunk } = encodeTensor(o.name, t, binaryOut);
        if (chunk !== undefined) chunks.push(chunk);
        return wire;
      }),
    };
    const message = writeMessage(response, chunks);
    if (message.headerLength === undefined) res.type('application/json');
    else res.type('application/octet-stream').set('Inference-Header-Content-Length', String(message.headerLength));
    res.send(message.body);
  });

  /** Triton's repository index. @route POST /v2/repository/index */
  v2.post('/repository/index', body, (_req, res) => {
    res.json(store.index());
  });

  /** Load or reload a model from the repository (a new version folder, a changed config). @route POST /v2/repository/models/{name}/load */
  v2.post('/repository/models/:name/load', body, async (req, res) => {
    const changed = await store.reload(req.params.name as string);
    log.info({ model: req.params.name, changed }, 'repository load');
    res.status(200).end();
  });

  /** @route POST /v2/repository/models/{name}/unload */
  v2.post('/repository/models/:name/unload', body, () => {
    throw badRequest('unload_unsupported', 'unload is not supported: this server keeps every model of its repository loaded (remove the folder and reload instead)');
  });

  app.use('/v2', v2);
  app.use((req, _res, next) => next(notFound(`there is nothing at ${req.method} ${fullPath(req).slice(0, 200)}`)));
  app.use(oipErrorHandler(log));
  return app;
}

/** Every error as {"error": "…"}, the protocol's error body. */
function oipErrorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const known = err instanceof HttpError ? err : err instanceof RepositoryError ? badRequest('load_failed', err.message) : bodyParserError(err);
    const error = known ?? new HttpError('internal_error', 'internal error: the inference failed; the server logged the details');
    if (known === null || error.status >= 500) log.error({ err, path: fullPath(req).slice(0, 200), method: req.method }, 'model server request failed');
    if (error.retryAfter !== undefined) res.set('Retry-After', String(error.retryAfter));
    if (error.status === 401) res.set('WWW-Authenticate', 'Bearer');
    // A body refused part-way is not read to its end: close the connection instead.
    if (error.status === 413) res.set('Connection', 'close');
    res.status(error.status).json({ error: error.message });
  };
}
