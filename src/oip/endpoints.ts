/**
 * The model tier's endpoints (the Open Inference Protocol v2 and its extensions), each an Endpoint
 * (src/http/endpoint.ts): the handler and what the OpenAPI document says of it in one object, with
 * real answers as examples. Health is answered without the token; the rest sits behind it.
 * createModelServer (src/oip/server.ts) mounts them.
 */
import { type Request, type Response } from 'express';
import { z } from 'zod';
import { AppError, invalidInput, notFound } from '../errors';
import { type Endpoint, type Reply, type ReplyEndpoint, replyEndpoint } from '../http/endpoint';
import type { NamedTensors } from '../inference/backend';
import type { Lifecycle } from '../lifecycle';
import type { Logger } from '../log';
import { type ModelDefinition, byName } from '../models/model';
import { modelCardSchema } from '../predictors/types';
import { type BodyLimits, readBody } from './body';
import { BODY_ERRORS, EXAMPLE_REQUEST, HEADER_LENGTH, MODEL_ERRORS, TENSOR_ERRORS, TOKEN, inferExamples } from './document';
import { OIP_ERRORS } from './errors';
import { runInference } from './infer';
import { BINARY_HEADER, type ServerMetadata } from './protocol';
import { InferRequestSchema, InferResponseSchema, ModelMetadataSchema, RepositoryIndexSchema, ServerMetadataSchema } from './schemas';
import type { TierLog } from './log';
import type { ModelStore, ServedEntry } from './store';

interface ModelParams {
  name: string;
  version?: string;
}

/** An inference request as read: the model asked for, and the body with its Inference-Header-Content-Length. */
interface InferInput extends ModelParams {
  body: Buffer;
  headerLength?: string;
  /** performance.now() when the route took the request, if its runs are logged here (./log.ts); the document's examples are not. */
  started?: number;
}

/** What the routes work with. */
export interface RouteContext {
  store: ModelStore;
  /** The model definitions (src/models/): the infer endpoint's examples are theirs. */
  table: readonly ModelDefinition[];
  lifecycle: Lifecycle;
  log: Logger;
  serverMetadata: ServerMetadata;
  limits: BodyLimits;
  ready(): boolean;
  /** The prediction log (PREDICTION_LOG=0: none). */
  tierLog?: TierLog;
}

/** A route of the protocol as an Endpoint (src/http/endpoint.ts): what it does and what the document says of it, in one object. */
const oip = <I>(spec: Omit<ReplyEndpoint<I>, 'errorWriter'>): Endpoint => replyEndpoint({ ...spec, errorWriter: OIP_ERRORS });

const model = (req: Request): ModelParams => ({ name: req.params.name as string, version: req.params.version as string | undefined });
const unknownModel: Record<string, ModelParams> = { 'an unknown model': { name: 'weather' } };

/** Liveness and readiness: answered without the token. */
export function healthEndpoints({ lifecycle, ready }: RouteContext): Endpoint[] {
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
export function protocolEndpoints({ store, table, lifecycle, log, serverMetadata, limits, tierLog }: RouteContext): Endpoint[] {
  /** The body, read (to its end, within the limit) and not used. */
  const drained = async (req: Request): Promise<void> => void (await readBody(req, req.res as Response, limits));
  const served = (): string[] => store.entries().map((e) => e.name);
  /** A model to name in an example when none is served yet: the table's first. */
  const anyModel = (): string => served()[0] ?? table[0]?.name ?? 'model';
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
      examples: () => ({ ...eachModel(), 'a version not served': { name: anyModel(), version: '999' } }),
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
      responses: { 200: { description: 'The card: what the model is, its data, its held-out metrics.', json: modelCardSchema(table.map((m) => m.name)) } },
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
        const started = performance.now();
        const { name, version } = model(req);
        const { entry } = store.resolve(name, version); // an unknown model or version: 404 before reading the body
        const logged = tierLog !== undefined && tierLog.logs(req);
        if (logged) await tierLog.prepare(entry);
        const body = await readBody(req, req.res as Response, limits);
        return { name, version, body, headerLength: req.get(BINARY_HEADER), ...(logged ? { started } : {}) };
      },
      answer: async ({ name, version, body, headerLength, started }): Promise<Reply> => {
        const onRun =
          tierLog === undefined || started === undefined
            ? undefined
            : (entry: ServedEntry, inputs: NamedTensors, outputs: NamedTensors) => tierLog.record(entry, inputs, outputs, started);
        const message = await runInference(store, name, version, body, headerLength, byName(table, name)?.explainer, onRun);
        if (message.headerLength === undefined) return { raw: { type: 'application/json', body: message.body } };
        return { headers: { 'Inference-Header-Content-Length': String(message.headerLength) }, raw: { type: 'application/octet-stream', body: message.body } };
      },
      examples: (): Record<string, InferInput> => inferExamples(served(), table),
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
      examples: () => ({ 'any model': anyModel() }),
    }),
  ];
}
