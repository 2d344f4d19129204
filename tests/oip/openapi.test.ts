/**
 * The model tier's OpenAPI document (GET /openapi.json on ROLE=models): valid OpenAPI 3.1 by a
 * standard validator, every endpoint of the protocol with the statuses it answers, the protocol's
 * message schemas, examples that are the tier's real answers, and request schemas that accept and
 * refuse what the server does. Every answer the tier gives in tests/oip/* is checked against this
 * document (tests/helpers/openapi-check.ts); the last test shows that check failing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import request from 'supertest';
import { ERRORS, type ErrorCode } from '../../src/errors';
import type { OpenApiDocument, Operation } from '../../src/http/openapi';
import type { ApiReference } from '../../src/http/reference';
import { createModelServer } from '../../src/oip/server';
import { MODELS_DIR } from '../helpers/app';
import { buildModelServer } from '../helpers/oip';
import { validateDocument } from '../helpers/openapi-check';

let ctx: Awaited<ReturnType<typeof buildModelServer>>;
let doc: OpenApiDocument;
beforeAll(async () => {
  ctx = await buildModelServer();
  doc = (await request(ctx.app).get('/openapi.json')).body as OpenApiDocument;
});
afterAll(() => ctx.store.close());

const referenceOf = (app: unknown): ApiReference => (app as { locals: { openapi: ApiReference } }).locals.openapi;
const op = (p: string, method: 'get' | 'post' = 'get'): Operation => {
  const found = doc.paths[p]?.[method];
  if (found === undefined) throw new Error(`${method} ${p} is not documented`);
  return found;
};
/** The example named `name` of `p`'s answer with `status`, as the document shows it. */
const example = (p: string, method: 'get' | 'post', status: number, name: string): unknown =>
  op(p, method).responses[String(status)]?.content?.['application/json']?.examples?.[name.replace(/\W+/g, '_')]?.value;

describe('GET /openapi.json on the model tier', () => {
  it('answers the model tier\'s OpenAPI 3.1 document, valid by the official schema (@seriousme/openapi-schema-validator)', async () => {
    const res = await request(ctx.app).get('/openapi.json');
    expect([res.status, res.type, res.body.openapi, res.body.info.title]).toEqual([200, 'application/json', '3.1.0', 'ml-forms model tier']);
    expect(await validateDocument(doc)).toEqual({ valid: true });
  });

  it('documents every endpoint of the protocol, with and without versions, and nothing of the web app', () => {
    const ops = Object.entries(doc.paths).flatMap(([p, item]) => (['get', 'post'] as const).filter((m) => item[m] !== undefined).map((m) => `${m.toUpperCase()} ${p}`));
    expect(ops).toEqual([
      'GET /v2/health/live',
      'GET /v2/health/ready',
      'GET /v2',
      'GET /v2/models/{name}',
      'GET /v2/models/{name}/versions/{version}',
      'GET /v2/models/{name}/ready',
      'GET /v2/models/{name}/versions/{version}/ready',
      'GET /v2/models/{name}/card',
      'GET /v2/models/{name}/versions/{version}/card',
      'POST /v2/models/{name}/infer',
      'POST /v2/models/{name}/versions/{version}/infer',
      'POST /v2/repository/index',
      'POST /v2/repository/models/{name}/load',
      'POST /v2/repository/models/{name}/unload',
      'GET /metrics',
      'GET /openapi.json',
    ]);
  });

  it('documents the statuses each endpoint answers: 401 behind the token, 404 for a model, 413 and 415 for a body, 503 with Retry-After', () => {
    const statuses = (p: string, method: 'get' | 'post' = 'get'): string[] => Object.keys(op(p, method).responses);
    expect(statuses('/v2/health/live')).toEqual(['200', '500', '503']);
    expect(statuses('/v2/health/ready')).toEqual(['200', '500', '503']);
    expect(statuses('/v2')).toEqual(['200', '401', '500', '503']);
    expect(statuses('/v2/models/{name}/versions/{version}')).toEqual(['200', '401', '404', '500', '503']);
    expect(statuses('/v2/models/{name}/infer', 'post')).toEqual(['200', '400', '401', '404', '413', '415', '500', '503']);
    expect(statuses('/v2/repository/models/{name}/unload', 'post')).toEqual(['400', '401', '413', '415', '500', '503']);
    expect(statuses('/metrics')).toEqual(['200', '404', '500', '503']);

    const infer = op('/v2/models/{name}/infer', 'post');
    expect(infer.responses['503']?.headers).toHaveProperty('Retry-After');
    expect(infer.responses['401']?.headers).toHaveProperty('WWW-Authenticate');
    expect(infer.security).toEqual([{}, { inferenceToken: [] }]);
    expect(op('/v2/health/ready').security).toBeUndefined();
    expect(doc.components.securitySchemes).toMatchObject({ inferenceToken: { type: 'http', scheme: 'bearer' } });
    // Empty answers have no content; the health checks' 503 is the error shape.
    expect(op('/v2/health/live').responses['200']).toEqual({ description: 'Live (an empty body).' });
    expect(Object.keys(op('/v2/health/ready').responses['503']?.content ?? {})).toEqual(['application/json']);
  });

  it("describes inference: JSON tensors, and Triton's binary extension as a media type with Inference-Header-Content-Length", () => {
    const infer = op('/v2/models/{name}/infer', 'post');
    expect(Object.keys(infer.requestBody?.content ?? {})).toEqual(['application/json', 'application/octet-stream']);
    expect(infer.requestBody?.content['application/json']?.schema).toEqual({ $ref: '#/components/schemas/InferenceRequest' });
    expect(infer.parameters).toEqual([expect.objectContaining({ name: 'Inference-Header-Content-Length', in: 'header', required: false })]);
    const ok = infer.responses['200'];
    expect(Object.keys(ok?.content ?? {})).toEqual(['application/json', 'application/octet-stream']);
    expect(ok?.headers).toHaveProperty('Inference-Header-Content-Length');
    const tensor = doc.components.schemas.RequestTensor as { properties: Record<string, { enum?: string[] }>; required: string[] };
    expect(tensor.required).toEqual(['name', 'datatype', 'shape']);
    expect(tensor.properties.datatype?.enum).toEqual(['BOOL', 'UINT8', 'INT64', 'FP32', 'BYTES']);
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['InferenceRequest', 'InferenceResponse', 'ResponseTensor', 'TensorData', 'ServerMetadata', 'ModelMetadata', 'TensorMetadata', 'RepositoryIndex', 'ModelCard', 'Error']),
    );
  });

  it('lists only the codes the tier answers, errors being {"error": string}', () => {
    const error = doc.components.schemas.Error as { properties: unknown; description: string };
    expect(error.properties).toEqual({ error: { type: 'string' } });
    const codes = [...error.description.matchAll(/(\w+) \((\d{3}):/g)].map((m) => m[1] as ErrorCode);
    for (const code of codes) expect(ERRORS[code]).toBeDefined();
    expect(codes).toEqual(expect.arrayContaining(['unauthorized', 'not_found', 'loading', 'wrong_datatype', 'shape_mismatch', 'body_too_large', 'overloaded', 'unload_unsupported']));
    for (const webOnly of ['missing_x', 'invalid_image', 'models_loading', 'model_server_unavailable', 'file_too_large']) expect(codes).not.toContain(webOnly);
  });

  it('shows real answers as examples: the same as asking the tier', async () => {
    const same = async (p: string, method: 'get' | 'post', status: number, name: string, res: request.Test): Promise<void> => {
      const answer = await res;
      expect(answer.status).toBe(status);
      expect(example(p, method, status, name)).toEqual(answer.body);
    };
    const app = ctx.app;
    await same('/v2', 'get', 200, 'this server', request(app).get('/v2'));
    await same('/v2/models/{name}', 'get', 200, 'sentiment', request(app).get('/v2/models/sentiment'));
    await same('/v2/models/{name}', 'get', 404, 'an unknown model', request(app).get('/v2/models/weather'));
    await same('/v2/models/{name}/card', 'get', 200, 'regression', request(app).get('/v2/models/regression/card'));
    const regression = { id: 'example-1', inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 1], data: [5, -1] }] };
    expect(op('/v2/models/{name}/infer', 'post').requestBody?.content['application/json']?.example).toEqual(regression);
    await same('/v2/models/{name}/infer', 'post', 200, 'regression: x = 5 and x = -1', request(app).post('/v2/models/regression/infer').send(regression));
    const review = { inputs: [{ name: 'review', datatype: 'BYTES', shape: [1, 1], data: ['A warm, funny film. I loved it.'] }] };
    await same('/v2/models/{name}/infer', 'post', 200, 'sentiment: a review (BYTES)', request(app).post('/v2/models/sentiment/infer').send(review));
    await same('/v2/models/{name}/infer', 'post', 400, 'broken JSON', request(app).post('/v2/models/regression/infer').set('Content-Type', 'application/json').send('{"inputs": ['));
    await same('/v2/models/{name}/infer', 'post', 404, 'an unknown model', request(app).post('/v2/models/weather/infer').send(regression));
    await same('/v2/repository/index', 'post', 200, 'the repository', request(app).post('/v2/repository/index'));
    await same('/v2/repository/models/{name}/load', 'post', 400, 'a model not in the repository', request(app).post('/v2/repository/models/weather/load'));
    expect(example('/v2/models/{name}/infer', 'post', 200, 'malaria: a 2×2 RGB image (UINT8; any size: the graph resizes it)')).toMatchObject({ model_name: 'malaria' });
  });

  it('has no examples before the models are loaded, and the same paths', async () => {
    const loading = await buildModelServer({ load: false });
    const res = await request(loading.app).get('/openapi.json');
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.body.paths)).not.toContain('"examples"');
    expect(Object.keys(res.body.paths)).toEqual(Object.keys(doc.paths));
  });

  it('is behind INFERENCE_TOKEN, like every endpoint but the health checks', async () => {
    const secured = await buildModelServer({ env: { INFERENCE_TOKEN: 's3cret' } });
    try {
      expect((await request(secured.app).get('/openapi.json')).status).toBe(401);
      expect((await request(secured.app).get('/openapi.json').set('Authorization', 'Bearer s3cret')).status).toBe(200);
    } finally {
      await secured.store.close();
    }
  });
});

describe('the inference request schema agrees with the server', () => {
  const validate = (): ((body: unknown) => boolean) => {
    const ajv = new Ajv2020({ strict: false, validateFormats: false });
    ajv.addSchema(doc as object, 'openapi');
    return ajv.compile({ $ref: 'openapi#/components/schemas/InferenceRequest' });
  };
  const x = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ name: 'x', datatype: 'FP32', shape: [1, 1], data: [5], ...over });

  it.each<[string, unknown]>([
    ['one input', { inputs: [x()] }],
    ['nested data, an id, outputs and parameters', { id: 'a', parameters: { binary_data_output: false }, inputs: [x({ data: [[5]] })], outputs: [{ name: 'y', parameters: { binary_data: false } }] }],
    ['a field the protocol may add', { inputs: [x()], extra: true }],
  ])('both accept %s', async (_what, body) => {
    expect(validate()(body)).toBe(true);
    expect((await request(ctx.app).post('/v2/models/regression/infer').send(body as object)).status).toBe(200);
  });

  it.each<[string, unknown]>([
    ['a body that is not an object', [1, 2]],
    ['no inputs', { inputs: [] }],
    ['an id that is not a string', { id: 5, inputs: [x()] }],
    ['a datatype the server does not convert', { inputs: [x({ datatype: 'FP16' })] }],
    ['a negative dimension', { inputs: [x({ shape: [-1, 1] })] }],
    ['an input without a name', { inputs: [x({ name: '' })] }],
    ['an output without a name', { inputs: [x()], outputs: [{}] }],
  ])('both refuse %s', async (_what, body) => {
    expect(validate()(body)).toBe(false);
    expect((await request(ctx.app).post('/v2/models/regression/infer').send(body as object)).status).toBe(400);
  });
});

describe('examples follow the versions served', () => {
  it('after a new version is loaded, the examples are answers of the new version', async () => {
    const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'models-'));
    fs.cpSync(MODELS_DIR, repo, { recursive: true });
    const tier = await buildModelServer({ repo });
    try {
      const metadata = async (): Promise<unknown> =>
        ((await request(tier.app).get('/openapi.json')).body as OpenApiDocument).paths['/v2/models/{name}']?.get?.responses['200']?.content?.['application/json']?.examples
          ?.regression?.value;
      expect(await metadata()).toMatchObject({ versions: ['1'] });
      fs.cpSync(path.join(repo, 'regression', '1'), path.join(repo, 'regression', '2'), { recursive: true });
      const card = JSON.parse(fs.readFileSync(path.join(repo, 'regression', 'card.json'), 'utf8')) as Record<string, unknown>;
      fs.writeFileSync(path.join(repo, 'regression', '2', 'card.json'), JSON.stringify({ ...card, version: '2' }));
      expect((await request(tier.app).post('/v2/repository/models/regression/load')).status).toBe(200);
      expect(await metadata()).toMatchObject({ versions: ['2'] });
    } finally {
      await tier.store.close();
      fs.rmSync(repo, { recursive: true, force: true });
    }
  });
});

describe("the answer checker on the model tier's answers", () => {
  it('fails a request whose answer the document does not allow', async () => {
    const tier = await buildModelServer();
    try {
      const reference = referenceOf(tier.app);
      const { describe: real } = reference;
      // The same tier, with a document whose model metadata lacks "platform".
      reference.describe = () => {
        const d = real();
        const metadata = d.components.schemas.ModelMetadata as { properties: Record<string, unknown>; required: string[] };
        delete metadata.properties.platform;
        metadata.required = metadata.required.filter((f) => f !== 'platform');
        return d;
      };
      await expect(request(tier.app).get('/v2/models/regression')).rejects.toThrow(
        /Answer not as documented in \/openapi.json: GET \/v2\/models\/regression → 200 application\/json: the body does not match/,
      );
      // An empty answer where the document says JSON fails too (another app: the checker keeps one document per app).
      const app = createModelServer({ config: tier.config, store: tier.store });
      const other = referenceOf(app);
      const { describe: base } = other;
      other.describe = () => {
        const d = base();
        const live = d.paths['/v2/health/live']?.get?.responses['200'];
        if (live !== undefined) live.content = { 'application/json': { schema: { type: 'object' } } };
        return d;
      };
      await expect(request(app).get('/v2/health/live')).rejects.toThrow(/no content type.*application\/json/);
    } finally {
      await tier.store.close();
    }
  });
});
