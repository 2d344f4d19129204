/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the endpoints (src/http/endpoint.ts):
 * their zod schemas become JSON Schema (draft 2020-12, OpenAPI 3.1's dialect) by zod's own
 * z.toJSONSchema, and their error answers come from ERRORS (src/errors.ts), the list every thrown
 * error is typed against. Nothing here is written by hand twice: a route's documentation is its
 * endpoint object.
 */
import { z } from 'zod';
import { ERRORS, ERROR_CODES, type ErrorCode, type ErrorStatus } from '../errors';
import type { Endpoint, Example } from './endpoint';
import { API_PREFIX } from './request-path';

export type JsonSchema = Record<string, unknown>;
export type PathItem = Partial<Record<'get' | 'post', Operation>> & { parameters?: unknown[] };
export interface OpenApiDocument {
  openapi: string;
  info: DocumentInfo;
  paths: Record<string, PathItem>;
  components: { schemas: Record<string, JsonSchema>; [k: string]: unknown };
  [k: string]: unknown;
}
export interface Operation {
  operationId: string;
  tags: string[];
  summary: string;
  description?: string;
  requestBody?: { required: true; description?: string; content: Record<string, { schema: JsonSchema; example?: unknown }> };
  responses: Record<string, Response>;
  security?: Record<string, string[]>[];
}
export type NamedExamples = Record<string, { summary: string; value: unknown }>;
export interface Response {
  description: string;
  headers?: Record<string, unknown>;
  content?: Record<string, { schema: JsonSchema; examples?: NamedExamples }>;
}

// A type, not an interface, so it is assignable to the loose object the /openapi.json schema describes.
export type DocumentInfo = {
  title: string;
  version: string;
  description: string;
};

const COMPONENT = '#/components/schemas/';

/** The error answer's shape, `{"error":{"code","message"}}`, with `codes` as its possible codes. */
export function errorBodySchema(codes: readonly [ErrorCode, ...ErrorCode[]]): z.ZodObject {
  return z.strictObject({
    error: z.strictObject({
      code: z.enum(codes).meta({ description: 'Stable, for programs to test.' }),
      message: z.string().meta({ description: 'For a person: what went wrong and what to do.' }),
    }),
  });
}

/** Every code these endpoints can answer, each with its status and when it happens: components/schemas/Error. */
function errorCatalogue(codes: readonly ErrorCode[]): z.ZodObject {
  return z
    .strictObject({
      error: z.strictObject({
        code: z.union(codes.map((code) => z.literal(code).meta({ description: `${ERRORS[code].status}: ${ERRORS[code].when}` }))),
        message: z.string().meta({ description: 'For a person: what went wrong and what to do.' }),
      }),
    })
    .meta({ description: 'Every answer with a status of 400 or more: a stable code and a message a person can act on.' });
}

const toJsonSchema = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
  const id = z.globalRegistry.get(schema)?.id;
  if (id !== undefined) return { $ref: `${COMPONENT}${id}` };
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as JsonSchema;
  return rest;
};

/**
 * The schemas with an `id` (answers, the model card) that `paths` refer to, directly or through
 * each other, as components/schemas.
 */
function componentSchemas(paths: unknown): Record<string, JsonSchema> {
  const { schemas } = z.toJSONSchema(z.globalRegistry, {
    io: 'output',
    target: 'draft-2020-12',
    unrepresentable: 'any',
    uri: (id) => `${COMPONENT}${id}`,
  }) as { schemas: Record<string, JsonSchema> };
  const used = new Map<string, JsonSchema>();
  const visit = (value: unknown): void => {
    for (const [, id] of JSON.stringify(value).matchAll(/"#\/components\/schemas\/([^"]+)"/g)) {
      const schema = schemas[id as string];
      if (schema === undefined || used.has(id as string)) continue;
      const { $schema: _s, $id: _i, ...rest } = schema;
      used.set(id as string, rest);
      visit(rest);
    }
  };
  visit(paths);
  return Object.fromEntries(used);
}

/** The codes an endpoint can answer, by status: from its steps and single codes, plus the `any` step. */
export function errorCodesByStatus(endpoint: Endpoint): Map<ErrorStatus, ErrorCode[]> {
  const named = new Set<string>(['any', ...endpoint.errors]);
  const byStatus = new Map<ErrorStatus, ErrorCode[]>();
  for (const code of ERROR_CODES) {
    const info = ERRORS[code];
    if (!named.has(code) && !info.steps.some((step: string) => named.has(step))) continue;
    byStatus.set(info.status, [...(byStatus.get(info.status) ?? []), code]);
  }
  return byStatus;
}

/** "/api/predict/:model" → "/api/predict/{model}" */
export const openApiPath = (path: string): string => path.replace(/:(\w+)/g, '{$1}');

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad input',
  404: 'Not found',
  413: 'Too large',
  415: 'Unsupported media type',
  500: 'Server fault',
  503: 'Unavailable for now: retry after Retry-After seconds',
};

function examplesFor(examples: readonly Example[], status: number): NamedExamples | undefined {
  const matching = examples.filter((e) => e.status === status);
  if (matching.length === 0) return undefined;
  return Object.fromEntries(matching.map((e) => [e.name.replace(/\W+/g, '_'), { summary: e.name, value: e.body }]));
}

function operation(endpoint: Endpoint, examples: readonly Example[]): Operation {
  const responses: Record<string, Response> = {};
  const errors = errorCodesByStatus(endpoint);
  const statuses = [...new Set([...Object.keys(endpoint.responses).map(Number), ...errors.keys()])].sort((a, b) => a - b);
  for (const status of statuses) {
    const answer = endpoint.responses[status];
    const codes = errors.get(status as ErrorStatus);
    const content: NonNullable<Response['content']> = {};
    const json: JsonSchema[] = [];
    if (answer !== undefined && 'json' in answer) json.push(toJsonSchema(answer.json, 'output'));
    if (codes !== undefined) json.push(toJsonSchema(errorBodySchema(codes as [ErrorCode, ...ErrorCode[]]), 'output'));
    if (json.length > 0) {
      content['application/json'] = { schema: json.length === 1 ? (json[0] as JsonSchema) : { anyOf: json } };
      const shown = examplesFor(examples, status);
      if (shown !== undefined) content['application/json'].examples = shown;
    }
    if (answer !== undefined && 'text' in answer) content[answer.text] = { schema: { type: 'string' } };
    // Outside /api/, an error answers a browser (Accept: text/html) with the page (request-path.ts wantsJson).
    if (codes !== undefined && !endpoint.path.startsWith(API_PREFIX)) {
      content['text/html'] = { schema: { type: 'string', description: 'A browser (Accept: text/html) gets the page with the message.' } };
    }
    // The codes themselves are in the schema's enum, which tools and /docs list.
    const description = [answer?.description, codes === undefined ? undefined : `${STATUS_TEXT[status] ?? 'Error'}.`]
      .filter((d) => d !== undefined)
      .join(' ');
    responses[String(status)] = {
      description,
      ...(status === 503 && codes !== undefined ? { headers: { 'Retry-After': { $ref: '#/components/headers/RetryAfter' } } } : {}),
      content,
    };
  }
  const request = endpoint.request;
  return {
    operationId: endpoint.operationId,
    tags: [endpoint.tag],
    summary: endpoint.summary,
    ...(endpoint.description === undefined ? {} : { description: endpoint.description }),
    ...(endpoint.security === undefined ? {} : { security: [{}, ...endpoint.security.map((name) => ({ [name]: [] }))] }),
    ...(request === undefined
      ? {}
      : {
          requestBody: {
            required: true as const,
            ...(request.description === undefined ? {} : { description: request.description }),
            content: Object.fromEntries(
              Object.entries(request.content).map(([type, c]) => [
                type,
                { schema: toJsonSchema(c.schema, 'input'), ...(c.example === undefined ? {} : { example: c.example }) },
              ]),
            ),
          },
        }),
    responses,
  };
}

/** The document for these endpoints; `examples` (real answers, by operationId) are added where given. */
export function openApiDocument(
  endpoints: readonly Endpoint[],
  info: DocumentInfo,
  examples: ReadonlyMap<string, readonly Example[]> = new Map(),
): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const endpoint of endpoints) {
    const path = openApiPath(endpoint.path);
    const params = [...endpoint.path.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const item: PathItem = { ...paths[path], [endpoint.method]: operation(endpoint, examples.get(endpoint.operationId) ?? []) };
    if (params.length > 0) item.parameters = params;
    paths[path] = item;
  }
  const tags = [...new Set(endpoints.map((e) => e.tag))].map((name) => ({ name }));
  // An unknown path answers not_found, whatever the endpoints are.
  const answered = new Set<ErrorCode>(['not_found', ...endpoints.flatMap((e) => [...errorCodesByStatus(e).values()].flat())]);
  return {
    openapi: '3.1.0',
    info,
    servers: [{ url: '/', description: 'This server' }],
    tags,
    paths,
    components: {
      schemas: { ...componentSchemas(paths), Error: toJsonSchema(errorCatalogue(ERROR_CODES.filter((c) => answered.has(c))), 'output') },
      headers: {
        RetryAfter: { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 0 } },
      },
      securitySchemes: {
        metricsToken: { type: 'http', scheme: 'bearer', description: 'The METRICS_TOKEN, when the server sets one.' },
      },
    },
  };
}
