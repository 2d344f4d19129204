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
 *   POST /v2/repository/index, /v2/repository/models/{name}/load (and /unload: 400)   Triton's model-repository extension
 *   GET  /metrics                                              Prometheus, as in the web role
 *   GET  /openapi.json                                         this list as an OpenAPI 3.1 document
 *
 * Errors are {"error": "…"}: 400 bad request, 401 token, 404 unknown model or version, 413 body
 * too large, 503 (with Retry-After) loading, overloaded or stopping. With INFERENCE_TOKEN set,
 * everything but the two health checks requires `Authorization: Bearer <token>`; /metrics takes
 * METRICS_TOKEN instead when that is set, and is off (404) in production without it.
 *
 * Bodies are refused before they are parsed: JSON above MODEL_MAX_JSON_MB (binary tensor data, up
 * to MODEL_MAX_BODY_MB, is for large batches), and any body beyond MODEL_BODY_BUDGET_MB of bodies
 * held at once (503, Retry-After): one process survives many large requests at once.
 *
 * Each route is an Endpoint (src/http/endpoint.ts): the handler and its documentation are one
 * object, and /openapi.json is generated from them, with real answers as examples (each
 * endpoint's example inputs run through its own code). The tests check every answer the tier
 * gives against that document (tests/helpers/openapi-check.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import express, { type ErrorRequestHandler, type Express, type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { type Config, packageInfo } from '../config';
import { AppError, invalidInput, notFound, inputTooLarge, unsupportedInput } from '../errors';
import type { NamedTensors, Tensor } from '../inference/backend';
import { bearerCheck } from '../http/auth';
import { deadline } from '../http/deadline';
import { type Endpoint, type ErrorWriter, type Reply, type ReplyEndpoint, mount, replyEndpoint } from '../http/endpoint';
import { bodyParserError } from '../http/errors';
import { metricsEndpoint, metricsToken } from '../http/metrics-endpoint';
import { type DocumentInfo, MESSAGE_ONLY, METRICS_TOKEN_SCHEME } from '../http/openapi';
import { type ApiReference, openApiReference } from '../http/reference';
import { fullPath } from '../http/request-path';
import { statusOf } from '../http/status';
import { Lifecycle } from '../lifecycle';
import { type Logger, requestLogger } from '../log';
import { Metrics } from '../metrics';
import { ModelCardSchema } from '../predictors/types';
import { megabytes } from '../units';
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
import { InferRequestSchema, InferResponseSchema, ModelMetadataSchema, RepositoryIndexSchema, ServerMetadataSchema } from './schemas';
import type { ModelStore } from './store';

export interface ModelServerDeps {
  config: Pick<Config, 'env' | 'inferenceToken' | 'metricsToken' | 'modelMaxBodyBytes' | 'modelMaxJsonBytes' | 'modelBodyBudgetBytes' | 'requestTimeoutMs'>;
  store: ModelStore;
  lifecycle?: Lifecycle;
  log?: Logger;
  metrics?: Metrics;
}

/** Extensions of the protocol this server implements ("model_card" is ours; Triton has the other two). */
export const EXTENSIONS = ['binary_tensor_data', 'model_repository', 'model_card'];

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined, fatal: () => undefined };

/**
 * Bytes of request bodies held at once, from the first byte read until the answer is sent. Buffers
 * live outside V8's heap, so --max-old-space-size does not bound them: 20 bodies of 64 MB at once
 * took 2.4 GB of RSS. A body that does not fit is refused with 503 + Retry-After before it is read;
 * a body alone always fits, so any body within the limits is served once the others are done.
 */
export class BodyBudget {
  private held = 0;
  constructor(readonly limit: number) {}

  get used(): number {
    return this.held;
  }

  /** Takes `bytes` from the budget; false (nothing taken) when they do not fit. */
  take(bytes: number): boolean {
    if (this.held > 0 && this.held + bytes > this.limit) return false;
    this.held += bytes;
    return true;
  }

  give(bytes: number): void {
    this.held -= bytes;
  }
}

export interface BodyLimits {
  /** A JSON body, or the JSON header before binary tensor data (MODEL_MAX_JSON_MB): parsed JSON takes several times its bytes of heap. */
  json: number;
  /** A body with binary tensor data, Inference-Header-Content-Length set (MODEL_MAX_BODY_MB). */
  binary: number;
  budget: BodyBudget;
}

const busy = (): AppError =>
  new AppError('overloaded', 'the server is reading or running other large requests (MODEL_BODY_BUDGET_MB); retry shortly', { retryAfter: 1 });

/**
 * The request body, refused before it is parsed: 413 as soon as it is known to exceed its limit
 * (from Content-Length without reading it, or while it streams in), 503 when the budget of bodies
 * held at once is spent. JSON bodies have a limit of their own, far below that of bodies with
 * binary tensor data (whose JSON header has the same limit). The bytes taken from the budget are
 * given back when the answer has been sent (or the connection closed).
 */
export function readBody(req: IncomingMessage, res: ServerResponse, limits: BodyLimits): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') return Promise.reject(unsupportedInput('unsupported_encoding', `Content-Encoding ${encoding} is not supported; send the body uncompressed`));
  const headerLength = req.headers[BINARY_HEADER];
  const binary = headerLength !== undefined;
  const limit = binary ? limits.binary : Math.min(limits.json, limits.binary);
  const tooLarge = (): AppError =>
    inputTooLarge(
      'body_too_large',
      binary || limit === limits.binary
        ? `the request body is larger than this server's limit of ${limit} bytes (MODEL_MAX_BODY_MB)`
        : `the request body is larger than this server's limit of ${limit} bytes for JSON (MODEL_MAX_JSON_MB); send larger tensors as binary tensor data (Inference-Header-Content-Length), up to ${limits.binary} bytes`,
    );
  if (binary && Number(headerLength) > limits.json) {
    return Promise.reject(
      inputTooLarge('body_too_large', `the JSON header of a request may have at most ${limits.json} bytes (MODEL_MAX_JSON_MB); send the tensors' data as binary (parameters.binary_data_size)`),
    );
  }
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  if (declared !== undefined && declared > limit) return Promise.reject(tooLarge());

  let taken = 0;
  const give = (): void => {
    limits.budget.give(taken);
    taken = 0;
  };
  const take = (bytes: number): boolean => {
    if (!limits.budget.take(bytes)) return false;
    taken += bytes;
    return true;
  };
  // Given back once the answer is out (the body and what was decoded from it are garbage then).
  res.once('close', give);
  // A declared length is taken at once (and the body read into one buffer of that size); otherwise chunk by chunk.
  if (declared !== undefined && !take(declared)) return Promise.reject(busy());
  const whole = declared !== undefined && Number.isSafeInteger(declared) ? Buffer.allocUnsafe(declared) : undefined;

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onError);
    };
    const fail = (err: AppError): void => {
      cleanup();
      req.pause();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      if (size + chunk.length > limit || (whole !== undefined && size + chunk.length > whole.length)) {
        fail(tooLarge());
        return;
      }
      if (whole === undefined) {
        if (!take(chunk.length)) {
          fail(busy());
          return;
        }
        chunks.push(chunk);
      } else {
        chunk.copy(whole, size);
      }
      size += chunk.length;
    };
    const onEnd = (): void => {
      cleanup();
      resolve(whole !== undefined ? whole.subarray(0, size) : Buffer.concat(chunks, size));
    };
    const onError = (): void => {
      cleanup();
      reject(invalidInput('invalid_body', 'the request body could not be read completely'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onError);
  });
}

/** The top level of an inference request, checked; tensors are decoded separately. */
function inferRequest(json: unknown): InferRequest {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalidInput('invalid_request', 'the request must be a JSON object with "inputs"');
  const r = json as Partial<InferRequest>;
  if (!Array.isArray(r.inputs) || r.inputs.length === 0) throw invalidInput('invalid_request', 'the request needs "inputs": a non-empty list of tensors');
  if (r.id !== undefined && typeof r.id !== 'string') throw invalidInput('invalid_request', '"id" must be a string');
  if (r.parameters !== undefined && (typeof r.parameters !== 'object' || r.parameters === null || Array.isArray(r.parameters))) {
    throw invalidInput('invalid_request', '"parameters" must be an object');
  }
  if (r.outputs !== undefined) {
    if (!Array.isArray(r.outputs) || !r.outputs.every((o) => typeof o === 'object' && o !== null && typeof o.name === 'string')) {
      throw invalidInput('invalid_request', '"outputs" must be a list of {"name": …}');
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
      throw invalidInput('unknown_input', `model "${config.name}" has no input "${name}"; its inputs: ${config.inputs.map((t) => t.name).join(', ')}`);
    }
    if (feeds[name] !== undefined) throw invalidInput('duplicate_input', `input "${name}" is given twice`);
    const datatype = (wire as WireTensor).datatype;
    if (datatype !== spec.datatype) throw invalidInput('wrong_datatype', `input "${name}" of model "${config.name}" is ${spec.datatype}, not ${datatype}`);
    const expected = wireShape(config, spec);
    const dims = tensor.dims;
    const fits = dims.length === expected.length && dims.every((d, i) => (expected[i] === -1 ? d >= 1 : d === expected[i]));
    if (!fits) {
      const hint = config.maxBatchSize > 0 ? ' (the first dimension is the batch)' : '';
      throw invalidInput('wrong_shape', `input "${name}" of model "${config.name}" must have shape ${shapeText(expected)}${hint}, got ${shapeText(dims)}`);
    }
    if (config.maxBatchSize > 0) {
      const n = dims[0] as number;
      if (n > config.maxBatchSize) throw invalidInput('batch_too_large', `a batch of ${n} is more than model "${config.name}" takes (max_batch_size ${config.maxBatchSize})`);
      if (batch !== null && n !== batch) throw invalidInput('wrong_shape', `every input needs the same batch size; got ${batch} and ${n}`);
      batch = n;
    }
    feeds[name] = spec.reshape === undefined ? tensor : reshaped(tensor, config.maxBatchSize > 0 ? [dims[0] as number, ...spec.reshape] : spec.reshape);
  }
  binary.finish();
  const missing = config.inputs.filter((t) => feeds[t.name] === undefined).map((t) => t.name);
  if (missing.length > 0) throw invalidInput('missing_input', `model "${config.name}" needs input ${missing.map((n) => `"${n}"`).join(', ')}`);
  return feeds;
}

function reshaped(t: Tensor, shape: number[]): Tensor {
  const count = t.data.length;
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  return { ...t, dims: shape.map((d) => (d === -1 ? count / known : d)) } as Tensor;
}

/** Errors as the protocol answers them, `{"error": "…"}`; a repository that cannot be loaded is the client's 400. */
export const OIP_ERRORS: ErrorWriter = {
  known: (err) => (err instanceof AppError ? err : err instanceof RepositoryError ? invalidInput('load_failed', err.message) : bodyParserError(err)),
  body: (err) => ({ error: err.message }),
};

// The codes each endpoint can answer (ERRORS, src/errors.ts), for its document.
const MODEL_ERRORS = ['unauthorized', 'not_found', 'loading'] as const;
const BODY_ERRORS = ['body_too_large', 'unsupported_encoding', 'invalid_body', 'overloaded'] as const;
const TENSOR_ERRORS = [
  'invalid_header_length',
  'invalid_json',
  'invalid_request',
  'invalid_datatype',
  'invalid_shape',
  'invalid_data',
  'invalid_binary_data',
  'shape_mismatch',
  'unknown_input',
  'duplicate_input',
  'missing_input',
  'wrong_datatype',
  'wrong_shape',
  'batch_too_large',
  'unknown_output',
] as const;

const TOKEN = ['inferenceToken'];
const SECURITY_SCHEMES = {
  ...METRICS_TOKEN_SCHEME,
  inferenceToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'The INFERENCE_TOKEN, when the model tier sets one: every endpoint but the two health checks then requires it.',
  },
};

const HEADER_LENGTH = {
  'Inference-Header-Content-Length': {
    description: "Binary tensor data (Triton's extension): the length in bytes of the JSON part at the start of the body; the tensors' bytes follow it.",
    schema: z.int().min(0),
  },
};

/** An example inference request: what the document shows as the request body. */
const EXAMPLE_REQUEST = { id: 'example-1', inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 1], data: [5, -1] }] };
const EXAMPLE_REVIEW = 'A warm, funny film. I loved it.';

interface ModelParams {
  name: string;
  version?: string;
}

/** An inference request as read: the model asked for, and the body with its Inference-Header-Content-Length. */
interface InferInput extends ModelParams {
  body: Buffer;
  headerLength?: string;
}

function info(config: ModelServerDeps['config'], version: string): DocumentInfo {
  return {
    title: 'ml-forms model tier',
    version,
    description: [
      "The Open Inference Protocol v2 (the KServe v2 protocol, Triton's HTTP/REST API) over the models of this server's repository: health, server and model metadata, inference with JSON tensors or Triton's binary tensor data, Triton's model-repository extension, and each version's model card (this server's extension).",
      'Errors, whatever the status, are `{"error": "…"}`, as the protocol says. A 503 carries `Retry-After`. With INFERENCE_TOKEN set, every endpoint but the two health checks requires `Authorization: Bearer <token>`.',
      `Limits: a JSON request body (or the JSON header before binary tensor data) of at most ${megabytes(config.modelMaxJsonBytes)} MB (MODEL_MAX_JSON_MB); a body with binary tensor data of at most ${megabytes(config.modelMaxBodyBytes)} MB (MODEL_MAX_BODY_MB); bodies held at once, at most ${megabytes(config.modelBodyBudgetBytes)} MB (MODEL_BODY_BUDGET_MB: beyond it, 503 with Retry-After); a batch of 1 to the model's max_batch_size along the first dimension.`,
    ].join('\n\n'),
  };
}

/** What the routes work with. */
interface RouteContext {
  store: ModelStore;
  lifecycle: Lifecycle;
  log: Logger;
  config: ModelServerDeps['config'];
  serverMetadata: ServerMetadata;
  limits: BodyLimits;
  ready(): boolean;
}

/** A route of the protocol as an Endpoint (src/http/endpoint.ts): what it does and what the document says of it, in one object. */
const oip = <I>(spec: Omit<ReplyEndpoint<I>, 'errorWriter'>): Endpoint => replyEndpoint({ ...spec, errorWriter: OIP_ERRORS });

const model = (req: Request): ModelParams => ({ name: req.params.name as string, version: req.params.version as string | undefined });
const unknownModel: Record<string, ModelParams> = { 'an unknown model': { name: 'weather' } };

/** Liveness and readiness: answered without the token. */
function healthEndpoints({ lifecycle, ready }: RouteContext): Endpoint[] {
  return [
    oip({
      method: 'get',
      path: '/v2/health/live',
      operationId: 'serverLive',
      tag: 'Health',
      summary: 'Liveness: the process answers',
      responses: { 200: { description: 'Live (an empty body).' } },
      errors: [],
      read: () => undefined,
      answer: () => ({}),
    }),
    oip({
      method: 'get',
      path: '/v2/health/ready',
      operationId: 'serverReady',
      tag: 'Health',
      summary: 'Readiness: every model loaded, not stopping',
      responses: { 200: { description: 'Ready (an empty body).' } },
      errors: ['loading', 'shutting_down'],
      read: () => undefined,
      // Answered here rather than thrown: a health probe while loading is not an error to log.
      answer: () =>
        ready()
          ? {}
          : { status: 503, headers: { 'Retry-After': '2' }, json: { error: lifecycle.shuttingDown ? 'the server is shutting down' : 'the models are still loading' } },
    }),
  ];
}

/** The protocol's other endpoints and its extensions: behind the token, when there is one. */
function protocolEndpoints({ store, lifecycle, log, serverMetadata, limits }: RouteContext): Endpoint[] {
  /** The body, read (to its end, within the limit) and not used. */
  const drained = async (req: Request): Promise<void> => void (await readBody(req, req.res as Response, limits));
  const served = (): string[] => store.entries().map((e) => e.name);
  /** Each served model by name, then an unknown one: examples for the model endpoints. */
  const eachModel = (): Record<string, ModelParams> => ({ ...Object.fromEntries(served().map((name) => [name, { name }])), ...unknownModel });

  return [
    oip({
      method: 'get',
      path: '/v2',
      operationId: 'serverMetadata',
      tag: 'Metadata',
      summary: 'Server metadata: name, version and the protocol extensions served',
      security: TOKEN,
      responses: { 200: { description: 'The server metadata.', json: ServerMetadataSchema } },
      errors: ['unauthorized'],
      read: () => undefined,
      answer: () => ({ json: serverMetadata }),
      examples: () => ({ 'this server': undefined }),
    }),
    oip({
      method: 'get',
      path: '/v2/models/:name{/versions/:version}',
      operationId: 'modelMetadata',
      tag: 'Metadata',
      summary: "Model metadata: its inputs and outputs, the batch dimension first, as Triton describes an ONNX model",
      security: TOKEN,
      responses: { 200: { description: 'The model metadata.', json: ModelMetadataSchema } },
      errors: MODEL_ERRORS,
      read: model,
      answer: ({ name, version }) => ({ json: store.resolve(name, version).entry.metadata }),
      examples: () => ({ ...eachModel(), 'a version not served': { name: served()[0] ?? 'regression', version: '999' } }),
    }),
    oip({
      method: 'get',
      path: '/v2/models/:name{/versions/:version}/ready',
      operationId: 'modelReady',
      tag: 'Health',
      summary: 'Model readiness',
      security: TOKEN,
      responses: { 200: { description: 'Ready (an empty body).' } },
      errors: [...MODEL_ERRORS, 'shutting_down'],
      read: model,
      answer: ({ name, version }) => {
        store.resolve(name, version);
        if (lifecycle.shuttingDown) throw new AppError('shutting_down', 'the server is shutting down', { retryAfter: 1 });
        return {};
      },
      examples: () => unknownModel,
    }),
    oip({
      method: 'get',
      path: '/v2/models/:name{/versions/:version}/card',
      operationId: 'modelCard',
      tag: 'Metadata',
      summary: "The version's model card (this server's extension model_card)",
      security: TOKEN,
      responses: { 200: { description: 'The card: what the model is, its data, its held-out metrics.', json: ModelCardSchema } },
      errors: MODEL_ERRORS,
      read: model,
      answer: ({ name, version }) => {
        const { entry } = store.resolve(name, version);
        if (entry.card === undefined) throw notFound(`model "${name}" version ${entry.version} has no card.json in the repository`);
        return { json: entry.card };
      },
      examples: eachModel,
    }),
    oip({
      method: 'post',
      path: '/v2/models/:name{/versions/:version}/infer',
      operationId: 'modelInfer',
      tag: 'Inference',
      summary: 'Inference: input tensors in, output tensors out',
      description:
        "Tensors as JSON (`data`, row-major), or with Triton's binary tensor data extension: the JSON header, then each tensor's bytes (`parameters.binary_data_size`), the header's length in `Inference-Header-Content-Length`. Outputs are those asked for in `outputs`, or all; as binary data when asked (`binary_data`, `binary_data_output`), the answer is then `application/octet-stream` in the same layout.",
      security: TOKEN,
      request: {
        description: 'An inference request: JSON, or its JSON header followed by binary tensor data.',
        content: {
          'application/json': { schema: InferRequestSchema, example: EXAMPLE_REQUEST },
          'application/octet-stream': {
            schema: z.file().meta({ description: 'The InferenceRequest as JSON (Inference-Header-Content-Length bytes), then the binary tensor data.' }),
          },
        },
        headers: HEADER_LENGTH,
      },
      responses: {
        200: {
          description: 'The outputs (JSON; or, with binary outputs, the InferenceResponse as JSON followed by their bytes).',
          json: InferResponseSchema,
          media: ['application/octet-stream'],
          headers: HEADER_LENGTH,
        },
      },
      errors: [...MODEL_ERRORS, ...BODY_ERRORS, ...TENSOR_ERRORS, 'shutting_down'],
      read: async (req) => {
        const { name, version } = model(req);
        store.resolve(name, version); // an unknown model or version: 404 before reading the body
        return { name, version, body: await readBody(req, req.res as Response, limits), headerLength: req.get(BINARY_HEADER) };
      },
      answer: async ({ name, version, body, headerLength }): Promise<Reply> => {
        const { json, binary } = readMessage(body, headerLength);
        const request = inferRequest(json);
        // Resolved again now that the body is in: the sessions that run it are the ones current now.
        const resolved = store.resolve(name, version);
        const { config: modelConfig } = resolved.entry;
        const feeds = modelInputs(modelConfig, request.inputs, new BinaryReader(binary));
        const wanted: NonNullable<InferRequest['outputs']> = request.outputs ?? modelConfig.outputs.map((o) => ({ name: o.name }));
        for (const o of wanted) {
          if (!modelConfig.outputs.some((t) => t.name === o.name)) {
            throw invalidInput('unknown_output', `model "${name}" has no output "${o.name}"; its outputs: ${modelConfig.outputs.map((t) => t.name).join(', ')}`);
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
        if (message.headerLength === undefined) return { raw: { type: 'application/json', body: message.body } };
        return { headers: { 'Inference-Header-Content-Length': String(message.headerLength) }, raw: { type: 'application/octet-stream', body: message.body } };
      },
      examples: () => {
        const request = (name: string, body: unknown): InferInput => ({ name, body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) });
        const inputs: Record<string, InferInput> = {};
        const has = new Set(served());
        if (has.has('regression')) {
          inputs['regression: x = 5 and x = -1'] = request('regression', EXAMPLE_REQUEST);
          inputs['a datatype other than the model\'s'] = request('regression', { inputs: [{ name: 'x', datatype: 'INT64', shape: [1, 1], data: [5] }] });
          inputs['shape and data that disagree'] = request('regression', { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 1], data: [5] }] });
          inputs['broken JSON'] = request('regression', '{"inputs": [');
        }
        if (has.has('sentiment')) {
          inputs['sentiment: a review (BYTES)'] = request('sentiment', { inputs: [{ name: 'review', datatype: 'BYTES', shape: [1, 1], data: [EXAMPLE_REVIEW] }] });
        }
        if (has.has('malaria')) {
          // Any height and width: the graph pads and resizes (a 2×2 image keeps the example short).
          const pixels = [200, 120, 160, 190, 110, 150, 60, 20, 90, 200, 120, 160];
          inputs['malaria: a 2×2 RGB image (UINT8; any size: the graph resizes it)'] = request('malaria', { inputs: [{ name: 'image', datatype: 'UINT8', shape: [1, 2, 2, 3], data: pixels }] });
        }
        inputs['an unknown model'] = request('weather', EXAMPLE_REQUEST);
        return inputs;
      },
    }),
    oip({
      method: 'post',
      path: '/v2/repository/index',
      operationId: 'repositoryIndex',
      tag: 'Repository',
      summary: "Every model of the repository and whether it is served (Triton's repository extension)",
      security: TOKEN,
      responses: { 200: { description: 'The models, each READY with its version, or UNAVAILABLE with the reason.', json: RepositoryIndexSchema } },
      errors: ['unauthorized', ...BODY_ERRORS],
      read: drained,
      answer: () => ({ json: store.index() }),
      examples: () => ({ 'the repository': undefined }),
    }),
    oip({
      method: 'post',
      path: '/v2/repository/models/:name/load',
      operationId: 'repositoryModelLoad',
      tag: 'Repository',
      summary: 'Load a model again from the repository: a new version folder, a changed config',
      description: 'The new version is loaded beside the running one and takes over in one step: no request is refused or dropped.',
      security: TOKEN,
      responses: { 200: { description: 'Loaded (an empty body); the models that did not change keep running as they were.' } },
      errors: ['unauthorized', ...BODY_ERRORS, 'load_failed'],
      read: async (req) => {
        await drained(req);
        return req.params.name as string;
      },
      answer: async (name) => {
        const changed = await store.reload(name);
        log.info({ model: name, changed }, 'repository load');
        return {};
      },
      // Only a failure: an example that loaded a model would change what the server runs.
      examples: () => ({ 'a model not in the repository': 'weather' }),
    }),
    oip({
      method: 'post',
      path: '/v2/repository/models/:name/unload',
      operationId: 'repositoryModelUnload',
      tag: 'Repository',
      summary: 'Unload a model: not supported, every model of the repository stays loaded',
      security: TOKEN,
      responses: {},
      errors: ['unauthorized', ...BODY_ERRORS, 'unload_unsupported'],
      read: async (req) => {
        await drained(req);
        return req.params.name as string;
      },
      answer: () => {
        throw invalidInput('unload_unsupported', 'unload is not supported: this server keeps every model of its repository loaded (remove the folder and reload instead)');
      },
      examples: () => ({ 'any model': served()[0] ?? 'regression' }),
    }),
  ];
}

export function createModelServer(deps: ModelServerDeps): Express {
  const { store, config } = deps;
  const lifecycle = deps.lifecycle ?? new Lifecycle();
  const log = deps.log ?? silent;
  const metrics = deps.metrics ?? new Metrics({ processMetrics: false });
  const pkg = packageInfo();
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
    if (['/v2', '/v2/health/live', '/v2/health/ready', '/v2/repository/index', '/metrics', '/openapi.json'].includes(p)) return { route: p, model: '' };
    return { route: 'other', model: '' };
  };

  const limits: BodyLimits = { json: config.modelMaxJsonBytes, binary: config.modelMaxBodyBytes, budget: new BodyBudget(config.modelBodyBudgetBytes) };
  const context: RouteContext = { store, lifecycle, log, config, serverMetadata, limits, ready };
  const health = healthEndpoints(context);
  const protocol = protocolEndpoints(context);

  // Outside production without METRICS_TOKEN, /metrics takes INFERENCE_TOKEN like the rest of the tier.
  const scrapeToken = metricsToken(config, config.inferenceToken);
  const scrape = metricsEndpoint(scrapeToken === null ? null : metrics.handler(scrapeToken));
  const reference = openApiReference([...health, ...protocol, scrape], {
    info: info(config, pkg.version),
    options: { errorShape: MESSAGE_ONLY, securitySchemes: SECURITY_SCHEMES },
    examplesKey: () => (store.ready ? store.entries().map((e) => `${e.name}@${e.version}`).join(' ') : null),
    self: { errors: ['unauthorized'], security: TOKEN },
  });

  const app = express();
  // The tests' answer checker (tests/helpers/openapi-check.ts) reads the document here.
  (app.locals as { openapi: ApiReference }).openapi = reference;
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', 1);
  app.use(metrics.middleware(label));
  app.use(mount(Router(), [scrape]));
  app.use(deadline({ timeoutMs: config.requestTimeoutMs }));
  app.use((_req, res, next) => {
    if (lifecycle.shuttingDown) res.set('Connection', 'close');
    next();
  });
  app.use(mount(Router(), health));
  app.use(requestLogger(log));
  app.use((req, _res, next) => {
    if (authorized(req.get('authorization'))) next();
    else next(new AppError('unauthorized', 'this model server requires Authorization: Bearer <INFERENCE_TOKEN>'));
  });
  app.use(mount(Router(), [...protocol, ...reference.endpoints]));
  app.use((req, _res, next) => next(notFound(`there is nothing at ${req.method} ${fullPath(req).slice(0, 200)}`)));
  app.use(oipErrorHandler(log));
  return app;
}

/** How long a connection whose body was refused stays open after the answer, unread. */
const LINGER_MS = 1000;

/**
 * Closes the connection after the answer without reading the rest of the body, as Node would, but
 * a little later: closing a socket with unread bytes sends a reset, and a client still busy sending
 * (20 bodies of 64 MB at once) may lose the answer it had not read yet. The socket stops reading
 * (TCP flow control stops the client), sends its FIN with the answer, and is destroyed LINGER_MS
 * later or when the client closes first.
 */
function lingeringClose(socket: Socket): void {
  socket.destroySoon = function lingering(this: Socket): void {
    this.pause();
    this.end();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    timer.unref();
    this.once('close', () => clearTimeout(timer));
  };
}

/** Every error as {"error": "…"}, the protocol's error body. */
function oipErrorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const known = OIP_ERRORS.known(err);
    const error = known ?? new AppError('internal_error', 'internal error: the inference failed; the server logged the details');
    const status = statusOf(error);
    if (known === null || status >= 500) log.error({ err, path: fullPath(req).slice(0, 200), method: req.method }, 'model server request failed');
    if (error.retryAfter !== undefined) res.set('Retry-After', String(error.retryAfter));
    if (status === 401) res.set('WWW-Authenticate', 'Bearer');
    // A body refused before or part-way is not read to its end: close the connection instead.
    if (status === 413 || !req.complete) {
      res.set('Connection', 'close');
      lingeringClose(req.socket);
    }
    res.status(status).json(OIP_ERRORS.body(error));
  };
}
