/**
 * The OpenAPI document: valid OpenAPI 3.1 by a standard validator, generated from the code (error
 * codes, schemas), with examples that are real answers; and the answer checker every HTTP test
 * runs through (tests/helpers/openapi-check.ts) really rejects what the document does not allow.
 */
import type { RequestHandler } from 'express';
import request from 'supertest';
import { z } from 'zod';
import { ERROR_CODES, ERRORS, type ErrorCode } from '../../src/errors';
import { statusOfCode } from '../../src/http/status';
import type { ApiReference } from '../../src/http/reference';
import type { Endpoint } from '../../src/http/endpoint';
import { MESSAGE_ONLY, type OpenApiDocument, openApiDocument } from '../../src/http/openapi';
import { buildApp, cellImage } from '../helpers/app';
import { type Answer, answerChecker, validateDocument } from '../helpers/openapi-check';

let ctx: Awaited<ReturnType<typeof buildApp>>;
let doc: OpenApiDocument;
beforeAll(async () => {
  // As the server runs by default: with the prediction log (feedback) and, with ADMIN_TOKEN, /api/monitor.
  ctx = await buildApp({ monitoring: true, env: { ADMIN_TOKEN: 'a-token-for-the-document' } });
  doc = (await request(ctx.app).get('/openapi.json')).body as OpenApiDocument;
});
afterAll(async () => {
  await ctx.monitoring?.close();
});

const referenceOf = (app: unknown): ApiReference => (app as { locals: { openapi: ApiReference } }).locals.openapi;

describe('GET /openapi.json', () => {
  it('answers an OpenAPI 3.1 document as JSON', async () => {
    const res = await request(ctx.app).get('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body.openapi).toMatch(/^3\.1\./);
    expect(res.body.info.title).toBe('ml-forms');
  });

  it('is valid by the official OpenAPI 3.1 schema (@seriousme/openapi-schema-validator)', async () => {
    expect(await validateDocument(doc)).toEqual({ valid: true });
  });

  it('documents every endpoint of the contract with every request form', () => {
    const ops = Object.entries(doc.paths).flatMap(([p, item]) => Object.keys(item).filter((k) => k !== 'parameters').map((m) => `${m.toUpperCase()} ${p}`));
    expect(ops).toEqual(
      expect.arrayContaining([
        'POST /api/predict/regression',
        'POST /api/predict/malaria',
        'POST /api/predict/sentiment',
        'GET /api/models',
        'GET /healthz',
        'GET /readyz',
        'GET /metrics',
        'GET /openapi.json',
      ]),
    );
    const bodyTypes = (p: string): string[] => Object.keys(doc.paths[p]?.post?.requestBody?.content ?? {});
    expect(bodyTypes('/api/predict/regression')).toEqual(['application/json', 'application/x-www-form-urlencoded']);
    expect(bodyTypes('/api/predict/sentiment')).toEqual(['application/json', 'application/x-www-form-urlencoded']);
    expect(bodyTypes('/api/predict/malaria')).toEqual(['multipart/form-data', 'image/png', 'image/jpeg', 'image/webp', 'image/gif', 'application/octet-stream']);
    expect(Object.keys(doc.paths['/metrics']?.get?.responses['200']?.content ?? {})).toEqual(['text/plain']);
  });

  it("lists every error code of src/errors.ts the web app answers, each under its status in some endpoint's answers", () => {
    const codeSchema = (doc.components.schemas.Error as { properties: { error: { properties: { code: { anyOf: { const: string }[] } } } } }).properties.error.properties.code;
    const web = ERROR_CODES.filter((code) => !(ERRORS[code].steps as readonly string[]).includes('oip'));
    expect(codeSchema.anyOf.map((c) => c.const)).toEqual(web);
    const text = JSON.stringify(doc.paths);
    for (const code of codeSchema.anyOf.map((c) => c.const)) expect(text).toContain(`"${code}"`);
    const predict = doc.paths['/api/predict/sentiment']?.post?.responses ?? {};
    expect(Object.keys(predict)).toEqual(['200', '400', '413', '415', '429', '500', '503']);
    expect(JSON.stringify(predict['413'])).toContain('review_too_long');
    expect(JSON.stringify(predict['400'])).not.toContain('missing_x');
    expect(predict['503']?.headers).toHaveProperty('Retry-After');
    for (const { const: code } of codeSchema.anyOf) {
      expect(codeSchema.anyOf.find((c) => c.const === code)).toMatchObject({ description: expect.stringMatching(new RegExp(`^${statusOfCode(code as ErrorCode)}: `)) });
    }
  });

  it('shows, once the models are loaded, real answers as examples: the same as posting the examples', async () => {
    const example = (p: string, status: string, name: string): unknown =>
      (doc.paths[p]?.post?.responses[status]?.content?.['application/json']?.examples ?? {})[name]?.value;
    // A real answer carries its id in the prediction log; the document's examples were never logged, so have none.
    const unlogged = (res: request.Response): unknown => {
      const { id, ...answer } = res.body as { id?: string };
      if (res.status === 200) expect(id).toMatch(/^[0-9a-f-]{36}$/);
      return answer;
    };
    expect(example('/api/predict/regression', '200', 'x_5')).toEqual(unlogged(await request(ctx.app).post('/api/predict/regression').send({ x: 5 })));
    expect(example('/api/predict/regression', '400', 'x_given_as_a_word')).toEqual(
      (await request(ctx.app).post('/api/predict/regression').send({ x: 'five' })).body,
    );
    expect(example('/api/predict/sentiment', '200', 'a_warm_review')).toEqual(
      unlogged(await request(ctx.app).post('/api/predict/sentiment').send({ review: 'A warm, funny film. I loved it.' })),
    );
    expect(example('/api/predict/sentiment', '400', 'a_blank_review')).toEqual(
      (await request(ctx.app).post('/api/predict/sentiment').send({ review: '   ' })).body,
    );
    const png = await cellImage('png');
    expect(example('/api/predict/malaria', '200', 'a_synthetic_cell_image_PNG_')).toEqual(
      unlogged(await request(ctx.app).post('/api/predict/malaria').attach('image', png, 'cell.png')),
    );
    expect(example('/api/predict/malaria', '415', 'a_text_file')).toEqual(
      (await request(ctx.app).post('/api/predict/malaria').attach('image', Buffer.from('not an image'), 'x.png')).body,
    );
    const cards = doc.paths['/api/models']?.get?.responses['200']?.content?.['application/json']?.examples?.the_cards?.value;
    expect(cards).toEqual((await request(ctx.app).get('/api/models')).body);
  });

  it('has no examples before the models are loaded (nothing to answer them), and the same paths', async () => {
    const { app, monitoring } = await buildApp({ load: false, monitoring: true, env: { ADMIN_TOKEN: 'a-token-for-the-document' } });
    const res = await request(app).get('/openapi.json');
    await monitoring?.close();
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.body.paths)).not.toContain('"examples"');
    expect(Object.keys(res.body.paths)).toEqual(Object.keys(doc.paths));
  });

  it('follows the configuration: the review limit is the one the server enforces', async () => {
    const { app } = await buildApp({ env: { MAX_REVIEW_CHARS: '50' } });
    const schema = referenceOf(app).describe().paths['/api/predict/sentiment']?.post?.requestBody?.content['application/json']?.schema as {
      properties: { review: { maxLength: number } };
    };
    expect(schema.properties.review.maxLength).toBe(50);
    const res = await request(app).post('/api/predict/sentiment').send({ review: 'a'.repeat(51) });
    expect(res.status).toBe(413);
  });
});

describe('every endpoint, good and bad requests (each answer checked against the document)', () => {
  it.each<[string, (app: Awaited<ReturnType<typeof buildApp>>) => PromiseLike<request.Response>, number]>([
    ['regression, JSON', ({ app }) => request(app).post('/api/predict/regression').send({ x: 5 }), 200],
    ['regression, urlencoded', ({ app }) => request(app).post('/api/predict/regression').type('form').send('x=5'), 200],
    ['regression, bad x', ({ app }) => request(app).post('/api/predict/regression').send({ x: 'five' }), 400],
    ['malaria, multipart', async ({ app }) => request(app).post('/api/predict/malaria').attach('image', await cellImage('png'), 'c.png'), 200],
    ['malaria, raw image/gif', async ({ app }) => request(app).post('/api/predict/malaria').set('Content-Type', 'image/gif').send(await cellImage('gif')), 200],
    ['malaria, raw text', ({ app }) => request(app).post('/api/predict/malaria').set('Content-Type', 'image/png').send(Buffer.from('text')), 415],
    ['sentiment, JSON', ({ app }) => request(app).post('/api/predict/sentiment').send({ review: 'good' }), 200],
    ['sentiment, urlencoded', ({ app }) => request(app).post('/api/predict/sentiment').type('form').send('review=good'), 200],
    ['sentiment, too long', ({ app }) => request(app).post('/api/predict/sentiment').send({ review: 'a'.repeat(20_001) }), 413],
    ['models', ({ app }) => request(app).get('/api/models'), 200],
    ['healthz', ({ app }) => request(app).get('/healthz'), 200],
    ['readyz', ({ app }) => request(app).get('/readyz'), 200],
    ['readyz while shutting down', ({ app, lifecycle }) => ((lifecycle.shuttingDown = true), request(app).get('/readyz')), 503],
    ['metrics', ({ app }) => request(app).get('/metrics'), 200],
    ['docs', ({ app }) => request(app).get('/docs'), 200],
    ['openapi.json', ({ app }) => request(app).get('/openapi.json'), 200],
    ['an unknown API path', ({ app }) => request(app).get('/api/nothing'), 404],
  ])('%s', async (_name, send, status) => {
    const res = await send(await buildApp());
    expect(res.status).toBe(status);
  });

  it.each<[string, string, number]>([
    ['readyz while loading', '/readyz', 503],
    ['models while loading (no cards yet)', '/api/models', 200],
  ])('%s', async (_name, url, status) => {
    const { app } = await buildApp({ load: false });
    expect((await request(app).get(url)).status).toBe(status);
  });

  it('regression while loading: 503 models_loading with Retry-After', async () => {
    const { app } = await buildApp({ load: false });
    expect((await request(app).post('/api/predict/regression').send({ x: 1 })).status).toBe(503);
  });

  it('metrics with a token: 404 without it, 200 with it', async () => {
    const { app } = await buildApp({ env: { METRICS_TOKEN: 's3cret' } });
    expect((await request(app).get('/metrics').set('Accept', 'application/json')).status).toBe(404);
    expect((await request(app).get('/metrics').set('Authorization', 'Bearer s3cret')).status).toBe(200);
  });
});

describe('the answer checker (run on every HTTP test answer)', () => {
  const checker = () => answerChecker(referenceOf(ctx.app).describe());
  const answer = (a: Partial<Answer>): Answer => ({
    method: 'POST',
    path: '/api/predict/regression',
    status: 200,
    contentType: 'application/json',
    headers: {},
    body: { model: 'regression', version: '1', value: 11, statement: 'The predicted value for 5 is 11.00.' },
    ...a,
  });

  it('accepts a documented answer', () => {
    expect(checker().check(answer({}))).toBeNull();
  });

  it.each<[string, Partial<Answer>, RegExp]>([
    ['an undocumented status', { status: 201 }, /status 201 is not documented/],
    ['an undocumented content type', { contentType: 'text/html' }, /text\/html is not documented/],
    ['a body with a field too many', { body: { model: 'regression', version: '1', value: 1, statement: 's', extra: 1 } }, /does not match/],
    ['a body missing a field', { body: { model: 'regression', version: '1', statement: 's' } }, /does not match/],
    ['an error code this endpoint cannot answer', { status: 400, body: { error: { code: 'missing_review', message: 'm' } } }, /does not match/],
    ['an error code under the wrong status', { status: 413, body: { error: { code: 'missing_x', message: 'm' } } }, /does not match/],
    ['a 503 error without Retry-After', { status: 503, body: { error: { code: 'overloaded', message: 'busy' } } }, /without Retry-After/],
    ['JSON from an undocumented route', { method: 'GET', path: '/api/extra', body: { a: 1 } }, /not in the OpenAPI document/],
    ['an undocumented route answering a non-error shape with 404', { method: 'GET', path: '/api/extra', status: 404, body: { a: 1 } }, /not in the OpenAPI document/],
  ])('rejects %s', (_name, change, message) => {
    expect(checker().check(answer(change))).toMatch(message);
  });

  it('accepts the error shape from an unknown path, and HTML pages', () => {
    expect(checker().check(answer({ method: 'GET', path: '/api/nothing', status: 404, body: { error: { code: 'not_found', message: 'Nothing here.' } } }))).toBeNull();
    expect(checker().check(answer({ method: 'GET', path: '/', contentType: 'text/html', body: {} }))).toBeNull();
  });

  it('fails a supertest request whose answer is not documented', async () => {
    const { app } = await buildApp();
    const reference = referenceOf(app);
    const { describe: real } = reference;
    // The same app, with a document that no longer lists /healthz's 200 answer.
    reference.describe = () => {
      const d = real();
      delete (d.paths['/healthz']?.get?.responses as Record<string, unknown>)['200'];
      return d;
    };
    await expect(request(app).get('/healthz')).rejects.toThrow(/Answer not as documented in \/openapi.json: GET \/healthz → 200 application\/json: status 200 is not documented/);
  });
});

describe('another app documented the same way (the shapes the model tier needs)', () => {
  const noop: RequestHandler = (_req, res) => void res.end();
  const endpoints: Endpoint[] = [
    {
      method: 'get',
      path: '/v2/health/ready',
      operationId: 'ready',
      tag: 'Health',
      summary: 'Ready',
      responses: { 200: { description: 'Ready (empty body).' } },
      errors: ['loading'],
      handlers: [noop],
    },
    {
      method: 'post',
      path: '/v2/models/:name{/versions/:version}/infer',
      operationId: 'infer',
      tag: 'Inference',
      summary: 'Infer',
      security: ['inferenceToken'],
      request: { content: { 'application/json': { schema: z.object({ inputs: z.array(z.object({ name: z.string() })) }) }, 'application/octet-stream': { schema: z.file() } } },
      responses: { 200: { description: 'Outputs.', json: z.object({ model_name: z.string() }), media: ['application/octet-stream'] } },
      errors: ['oip', 'not_found', 'body_too_large'],
      handlers: [noop],
    },
  ];
  const oipDoc = openApiDocument(endpoints, { title: 'model tier', version: '1', description: 'OIP v2' }, {
    errorShape: MESSAGE_ONLY,
    securitySchemes: { inferenceToken: { type: 'http', scheme: 'bearer' } },
  });

  it('expands optional path parts, keeps empty and binary answers, and is valid OpenAPI 3.1', async () => {
    expect(Object.keys(oipDoc.paths)).toEqual(['/v2/health/ready', '/v2/models/{name}/infer', '/v2/models/{name}/versions/{version}/infer']);
    expect(oipDoc.paths['/v2/models/{name}/versions/{version}/infer']?.post?.operationId).toBe('infer_2');
    expect(oipDoc.paths['/v2/health/ready']?.get?.responses['200']).toEqual({ description: 'Ready (empty body).' });
    expect(Object.keys(oipDoc.paths['/v2/models/{name}/infer']?.post?.responses['200']?.content ?? {})).toEqual(['application/json', 'application/octet-stream']);
    expect(Object.keys(oipDoc.paths['/v2/models/{name}/infer']?.post?.responses ?? {})).toEqual(['200', '400', '401', '404', '413', '500', '503']);
    expect(await validateDocument(oipDoc)).toEqual({ valid: true });
  });

  it('checks answers against {"error": "…"} errors', () => {
    const check = answerChecker(oipDoc);
    const base = { method: 'POST', path: '/v2/models/malaria/versions/2/infer', contentType: 'application/json', headers: {} };
    expect(check.check({ ...base, status: 200, body: { model_name: 'malaria' } })).toBeNull();
    expect(check.check({ ...base, status: 400, body: { error: 'input "x" is given twice' } })).toBeNull();
    expect(check.check({ ...base, status: 400, body: { error: { code: 'duplicate_input', message: 'm' } } })).toMatch(/does not match/);
    expect(check.check({ ...base, status: 503, body: { error: 'loading' } })).toMatch(/without Retry-After/);
    expect(check.check({ ...base, method: 'GET', path: '/v2/nothing', status: 404, body: { error: 'nothing here' } })).toBeNull();
  });
});
