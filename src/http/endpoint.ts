/**
 * An endpoint is one object holding both what the route does (its Express handlers) and what the
 * OpenAPI document says about it (src/http/openapi.ts builds /openapi.json and /docs from the list
 * of endpoints). Documenting a route is writing it this way; a route registered any other way is
 * undocumented, and the tests' answer checker (tests/helpers/openapi-check.ts) fails on its JSON.
 *
 * jsonEndpoint() covers the usual case: read the request with a RequestReader (which validates it
 * with the same zod schemas the document shows), compute an answer, send it as JSON. The document's
 * examples are that same code run on the endpoint's example inputs, so they are real answers.
 */
import type { Request, RequestHandler, Router } from 'express';
import express from 'express';
import type { z } from 'zod';
import type { Config } from '../config';
import { type ErrorCode, type ErrorStep, HttpError } from '../errors';
import { type Fields, type ParsedFields, fieldsSchema, parseFields } from '../fields';

/** One media type of a request body: its schema, and an example body shown in the document. */
export interface BodyContent {
  schema: z.ZodType;
  example?: unknown;
}

/** How an endpoint reads its request: the middleware that parses the body, validation, and the document's view of it. */
export interface RequestReader<I> {
  middleware: RequestHandler[];
  read(req: Request): I;
  /** What `read` gives for an example input (a JSON body; an upload's bytes): for the document's examples. */
  parse(example: unknown): I;
  /** The operation's requestBody.content, per media type. */
  content: Record<string, BodyContent>;
  /** Words for the requestBody. */
  description?: string;
}

/**
 * A non-error answer of an endpoint: a JSON body of this schema, and/or bodies of other media
 * types (text, bytes, a page), or neither (an empty body).
 */
export interface Answer {
  description: string;
  json?: z.ZodType;
  media?: string[];
}

/** One real exchange, for the document: what was sent (when it can be shown) and what came back. */
export interface Example {
  name: string;
  request?: unknown;
  status: number;
  body: unknown;
}

export interface Endpoint {
  method: 'get' | 'post';
  /**
   * The full path in Express syntax: a parameter (":model") becomes "{model}" in the document, and a
   * path with an optional part ("/models/:name{/versions/:version}") is documented as both paths.
   */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  request?: { content: Record<string, BodyContent>; description?: string };
  /** Answers other than errors, by status. */
  responses: Partial<Record<number, Answer>>;
  /**
   * The steps the request goes through (ERRORS in src/errors.ts lists each step's codes) and any
   * single codes: the error answers documented, by status. Every endpoint also has the `any` step's.
   */
  errors: readonly (ErrorStep | ErrorCode)[];
  /** Optional authentication: names of the document's securitySchemes. */
  security?: string[];
  handlers: RequestHandler[];
  /** Real answers for the document; run once the models are loaded. */
  examples?: () => Promise<Example[]>;
}

export interface JsonEndpoint<I, O> extends Omit<Endpoint, 'request' | 'responses' | 'handlers' | 'examples'> {
  request?: RequestReader<I>;
  response: { description: string; schema: z.ZodType<O> };
  /** The answer's status when it is not 200 (e.g. /readyz's 503 while loading), documented under it. */
  statusOf?: { status: number; description: string; when: (answer: O) => boolean };
  answer(input: I): O | Promise<O>;
  /** Named example inputs (JSON bodies, an upload's bytes), good and bad: the document shows their real answers. */
  examples?: () => Record<string, unknown> | Promise<Record<string, unknown>>;
}

/** An endpoint that reads its request, answers JSON, and documents both. */
export function jsonEndpoint<I, O>(spec: JsonEndpoint<I, O>): Endpoint {
  const { request, response, statusOf, answer, examples, ...rest } = spec;
  const read = (req: Request): I => (request === undefined ? (undefined as I) : request.read(req));
  const run = async (raw: unknown): Promise<Omit<Example, 'name'>> => {
    try {
      const body = await answer(request === undefined ? (undefined as I) : request.parse(raw));
      return { request: raw, status: statusOf?.when(body) ? statusOf.status : 200, body };
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      return { request: raw, status: err.status, body: { error: { code: err.code, message: err.message } } };
    }
  };
  return {
    ...rest,
    request: request === undefined ? undefined : { content: request.content, description: request.description },
    responses: {
      200: { description: response.description, json: response.schema },
      ...(statusOf === undefined ? {} : { [statusOf.status]: { description: statusOf.description, json: response.schema } }),
    },
    handlers: [
      ...(request?.middleware ?? []),
      async (req, res) => {
        const body = await answer(read(req));
        res.status(statusOf?.when(body) ? statusOf.status : 200).json(body);
      },
    ],
    examples:
      examples === undefined
        ? undefined
        : async () => {
            const inputs = await examples();
            const out: Example[] = [];
            for (const [name, raw] of Object.entries(inputs)) out.push({ name, ...(await run(raw)) });
            return out;
          },
  };
}

/** A Router answering the endpoints, at their full paths. */
export function mount(router: Router, endpoints: readonly Endpoint[]): Router {
  for (const e of endpoints) router[e.method](e.path, ...e.handlers);
  return router;
}

const JSON_TYPE = 'application/json';
const FORM_TYPE = 'application/x-www-form-urlencoded';

/** A JSON or urlencoded body holding `fields`, validated by their schemas; `example` is shown as the body. */
export function fieldsBody<F extends Fields>(fields: F, config: Config, example: Record<string, unknown>): RequestReader<ParsedFields<F>> {
  const schema = fieldsSchema(fields);
  return {
    middleware: [
      express.json({ limit: config.maxBodyBytes, strict: false }),
      express.urlencoded({ extended: false, limit: config.maxBodyBytes, parameterLimit: 20 }),
    ],
    read: (req) => parseFields(fields, req.body),
    parse: (raw) => parseFields(fields, raw),
    content: {
      [JSON_TYPE]: { schema, example },
      [FORM_TYPE]: { schema, example },
    },
  };
}
