/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the endpoints (src/http/endpoint.ts):
 * their zod schemas become JSON Schema (draft 2020-12, OpenAPI 3.1's dialect) by zod's own
 * z.toJSONSchema, and their error answers come from ERRORS (src/errors.ts), the list every thrown
 * error is typed against. Nothing here is written by hand twice: a route's documentation is its
 * endpoint object.
 */
import { z } from 'zod';
import { ERRORS, ERROR_CODES, type ErrorCode } from '../errors';
import { type ErrorStatus, statusOfCode } from './status';
import type { Endpoint, Example, HeaderDoc } from './endpoint';
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
  parameters?: { name: string; in: 'header' | 'query'; required: false; description: string; schema: JsonSchema }[];
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

/** How an app's error answers look in its document: per status, and the catalogue (components/schemas/Error). */
export interface ErrorShape {
  body(codes: readonly [ErrorCode, ...ErrorCode[]]): z.ZodType;
  catalogue(codes: readonly ErrorCode[]): z.ZodType;
  /** Whether a browser gets the page instead of JSON outside /api/ (the web app's error handler). */
  pageOutsideApi: boolean;
}

/** Every code these endpoints can answer, each with its status and when it happens: components/schemas/Error. */
function errorCatalogue(codes: readonly ErrorCode[]): z.ZodObject {
  return z
    .strictObject({
      error: z.strictObject({
        code: z.union(codes.map((code) => z.literal(code).meta({ description: `${statusOfCode(code)}: ${ERRORS[code].when}` }))),
        message: z.string().meta({ description: 'For a person: what went wrong and what to do.' }),
      }),
    })
    .meta({ description: 'Every answer with a status of 400 or more: a stable code and a message a person can act on.' });
}

/** The web app's errors: `{"error":{"code","message"}}` (src/http/errors.ts). */
export const CODE_AND_MESSAGE: ErrorShape = { body: errorBodySchema, catalogue: errorCatalogue, pageOutsideApi: true };

/**
 * `{"error": "…"}`, the Open Inference Protocol's error body (the model tier, src/oip/): a message
 * only, so the codes are named in the descriptions.
 */
export const MESSAGE_ONLY: ErrorShape = {
  body: (codes) => z.strictObject({ error: z.string().meta({ description: `What went wrong, for a person (${codes.join(', ')}).` }) }),
  catalogue: (codes) =>
    z.strictObject({ error: z.string() }).meta({
      description: `Every answer with a status of 400 or more. Its cases: ${codes.map((c) => `${c} (${statusOfCode(c)}: ${ERRORS[c].when})`).join('; ')}`,
    }),
  pageOutsideApi: false,
};

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
    const status = statusOfCode(code);
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return byStatus;
}

/** "/api/predict/:model" → "/api/predict/{model}" */
export const openApiPath = (path: string): string => path.replace(/:(\w+)/g, '{$1}');

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad input',
  401: 'Unauthorized: send the bearer token',
  404: 'Not found',
  413: 'Too large',
  415: 'Unsupported media type',
  429: 'Too many requests from this client: retry after Retry-After seconds',
  500: 'Server fault',
  503: 'Unavailable for now: retry after Retry-After seconds',
};

function examplesFor(examples: readonly Example[], status: number): NamedExamples | undefined {
  const matching = examples.filter((e) => e.status === status && e.body !== undefined);
  if (matching.length === 0) return undefined;
  return Object.fromEntries(matching.map((e) => [e.name.replace(/\W+/g, '_'), { summary: e.name, value: e.body }]));
}

const headerObjects = (headers: Record<string, HeaderDoc> | undefined): Record<string, { description: string; schema: JsonSchema }> =>
  Object.fromEntries(Object.entries(headers ?? {}).map(([name, h]) => [name, { description: h.description, schema: toJsonSchema(h.schema, 'output') }]));

function operation(endpoint: Endpoint, examples: readonly Example[], errorShape: ErrorShape): Operation {
  const responses: Record<string, Response> = {};
  const errors = errorCodesByStatus(endpoint);
  const statuses = [...new Set([...Object.keys(endpoint.responses).map(Number), ...errors.keys()])].sort((a, b) => a - b);
  for (const status of statuses) {
    const answer = endpoint.responses[status];
    const codes = errors.get(status as ErrorStatus);
    const content: NonNullable<Response['content']> = {};
    const json: JsonSchema[] = [];
    if (answer?.json !== undefined) json.push(toJsonSchema(answer.json, 'output'));
    if (codes !== undefined) json.push(toJsonSchema(errorShape.body(codes as [ErrorCode, ...ErrorCode[]]), 'output'));
    if (json.length > 0) {
      content['application/json'] = { schema: json.length === 1 ? (json[0] as JsonSchema) : { anyOf: json } };
      const shown = examplesFor(examples, status);
      if (shown !== undefined) content['application/json'].examples = shown;
    }
    for (const media of answer?.media ?? []) content[media] = { schema: { type: 'string' } };
    // Outside /api/, an error answers a browser (Accept: text/html) with the page (request-path.ts wantsJson).
    if (codes !== undefined && errorShape.pageOutsideApi && !endpoint.path.startsWith(API_PREFIX)) {
      content['text/html'] = { schema: { type: 'string', description: 'A browser (Accept: text/html) gets the page with the message.' } };
    }
    // The codes themselves are in the schema's enum, which tools and /docs list.
    const description = [answer?.description, codes === undefined ? undefined : `${STATUS_TEXT[status] ?? 'Error'}.`]
      .filter((d) => d !== undefined)
      .join(' ');
    const headers: Record<string, unknown> = headerObjects(answer?.headers);
    if ((status === 503 || status === 429) && codes !== undefined) headers['Retry-After'] = { $ref: '#/components/headers/RetryAfter' };
    if (status === 401 && codes !== undefined) headers['WWW-Authenticate'] = { description: 'The scheme to send the token with: Bearer.', schema: { type: 'string' } };
    responses[String(status)] = {
      description,
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
      ...(Object.keys(content).length > 0 ? { content } : {}),
    };
  }
  const request = endpoint.request;
  const parameters = [
    ...Object.entries(headerObjects(endpoint.query)).map(([name, h]) => ({ name, in: 'query' as const, required: false as const, ...h })),
    ...Object.entries(headerObjects(request?.headers)).map(([name, h]) => ({ name, in: 'header' as const, required: false as const, ...h })),
  ];
  return {
    operationId: endpoint.operationId,
    tags: [endpoint.tag],
    summary: endpoint.summary,
    ...(endpoint.description === undefined ? {} : { description: endpoint.description }),
    ...(endpoint.security === undefined ? {} : { security: [{}, ...endpoint.security.map((name) => ({ [name]: [] }))] }),
    ...(parameters.length > 0 ? { parameters } : {}),
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

export interface DocumentOptions {
  /** Real answers, by operationId, shown as examples. */
  examples?: ReadonlyMap<string, readonly Example[]>;
  /** Default: the web app's `{"error":{"code","message"}}`. */
  errorShape?: ErrorShape;
  /** components/securitySchemes, named in endpoints' `security`. */
  securitySchemes?: Record<string, unknown>;
}

/** The web app's bearer token for /metrics. */
export const METRICS_TOKEN_SCHEME = {
  metricsToken: { type: 'http', scheme: 'bearer', description: 'The METRICS_TOKEN, when the server sets one.' },
  adminToken: { type: 'http', scheme: 'bearer', description: 'The ADMIN_TOKEN (monitoring, deleting feedback); without one set, those paths do not exist.' },
};

/**
 * An Express path's documented forms: each optional part ("{/versions/:version}") present and
 * absent, parameters as "{name}". "/v2/models/:name{/versions/:version}" → "/v2/models/{name}",
 * "/v2/models/{name}/versions/{version}".
 */
export function openApiPaths(path: string): string[] {
  const optional = /\{([^{}]*)\}/.exec(path);
  if (optional === null) return [openApiPath(path)];
  const [before, after] = [path.slice(0, optional.index), path.slice(optional.index + optional[0].length)];
  return [...openApiPaths(before + after), ...openApiPaths(before + (optional[1] as string) + after)];
}

/** The document for these endpoints. */
export function openApiDocument(endpoints: readonly Endpoint[], info: DocumentInfo, options: DocumentOptions = {}): OpenApiDocument {
  const errorShape = options.errorShape ?? CODE_AND_MESSAGE;
  const paths: OpenApiDocument['paths'] = {};
  for (const endpoint of endpoints) {
    openApiPaths(endpoint.path).forEach((path, i) => {
      const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
      const op = operation(endpoint, options.examples?.get(endpoint.operationId) ?? [], errorShape);
      // The longer form of a path with an optional part gets its own operationId ("…_2").
      if (i > 0) op.operationId = `${op.operationId}_${i + 1}`;
      const item: PathItem = { ...paths[path], [endpoint.method]: op };
      if (params.length > 0) item.parameters = params;
      paths[path] = item;
    });
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
      schemas: { ...componentSchemas(paths), Error: toJsonSchema(errorShape.catalogue(ERROR_CODES.filter((c) => answered.has(c))), 'output') },
      headers: {
        RetryAfter: { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 0 } },
      },
      ...(options.securitySchemes === undefined ? {} : { securitySchemes: options.securitySchemes }),
    },
  };
}
