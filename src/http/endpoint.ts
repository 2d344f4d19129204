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
import { jsonDepthWithin } from '../json-depth';
import type { Request, RequestHandler, Router } from 'express';
import express from 'express';
import type { z } from 'zod';
import type { Config } from '../config';
import { type ErrorCode, type ErrorStep, AppError } from '../errors';
import { statusOf } from './status';
import { type Fields, type ParsedFields, fieldsBodyLimit, fieldsSchema, parseFields } from '../fields';

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

/** A request or answer header, for the document. */
export interface HeaderDoc {
  description: string;
  schema: z.ZodType;
}

/**
 * A non-error answer of an endpoint: a JSON body of this schema, and/or bodies of other media
 * types (text, bytes, a page), or neither (an empty body).
 */
export interface Answer {
  description: string;
  json?: z.ZodType;
  media?: string[];
  /** Headers the answer may carry. */
  headers?: Record<string, HeaderDoc>;
}

/** One real exchange, for the document: what was sent (when it can be shown) and what came back. */
export interface Example {
  name: string;
  request?: unknown;
  status: number;
  body: unknown;
}

export interface Endpoint {
  method: 'get' | 'post' | 'delete';
  /**
   * The full path in Express syntax: a parameter (":model") becomes "{model}" in the document, and a
   * path with an optional part ("/models/:name{/versions/:version}") is documented as both paths.
   */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  request?: { content: Record<string, BodyContent>; description?: string; headers?: Record<string, HeaderDoc> };
  /** Answers other than errors, by status. */
  responses: Partial<Record<number, Answer>>;
  /**
   * The steps the request goes through (ERRORS in src/errors.ts lists each step's codes) and any
   * single codes: the error answers documented, by status. Every endpoint also has the `any` step's.
   */
  errors: readonly (ErrorStep | ErrorCode)[];
  /** Optional authentication: names of the document's securitySchemes. */
  security?: string[];
  /** Optional query parameters, by name (e.g. `explain`), documented with their schemas. */
  query?: Record<string, HeaderDoc>;
  handlers: RequestHandler[];
  /** Real answers for the document; run once the models are loaded. */
  examples?: () => Promise<Example[]>;
}

export interface JsonEndpoint<I, O> extends Omit<Endpoint, 'request' | 'responses' | 'handlers' | 'examples'> {
  request?: RequestReader<I>;
  response: { description: string; schema: z.ZodType<O> };
  /** The answer's status when it is not 200 (e.g. /readyz's 503 while loading), documented under it. */
  statusOf?: { status: number; description: string; when: (answer: O) => boolean };
  /** `req`: the request, for its query (absent for the document's examples, which send none). */
  answer(input: I, req?: Request): O | Promise<O>;
  /** Named example inputs (JSON bodies, an upload's bytes), good and bad: the document shows their real answers. */
  examples?: () => Record<string, unknown> | Promise<Record<string, unknown>>;
}

/** How an app writes an error: the `body` it answers with, for `err` (or null for an error that is not one of the app's). */
export interface ErrorWriter {
  known(err: unknown): AppError | null;
  body(err: AppError): unknown;
}

/** The JSON API's errors: `{"error":{"code","message"}}` (src/http/errors.ts). */
export const CODE_AND_MESSAGE_ERRORS: ErrorWriter = {
  known: (err) => (err instanceof AppError ? err : null),
  body: (err) => ({ error: { code: err.code, message: err.message } }),
};

/**
 * Each named input run through the endpoint's own code (`answer`): its real answer, or the error it
 * throws as the app would answer it. An error that is not the app's is thrown: a fault, not an example.
 */
export async function realAnswers<I>(
  inputs: Record<string, I>,
  answer: (input: I) => Promise<{ status: number; body: unknown }>,
  errors: ErrorWriter,
): Promise<Example[]> {
  const out: Example[] = [];
  for (const [name, input] of Object.entries(inputs)) {
    try {
      out.push({ name, request: input, ...(await answer(input)) });
    } catch (err) {
      const known = errors.known(err);
      if (known === null) throw err;
      out.push({ name, request: input, status: statusOf(known), body: errors.body(known) });
    }
  }
  return out;
}

/** An endpoint that reads its request, answers JSON, and documents both. */
export function jsonEndpoint<I, O>(spec: JsonEndpoint<I, O>): Endpoint {
  const { request, response, statusOf, answer, examples, ...rest } = spec;
  const read = (req: Request): I => (request === undefined ? (undefined as I) : request.read(req));
  const run = async (raw: unknown): Promise<{ status: number; body: unknown }> => {
    const body = await answer(request === undefined ? (undefined as I) : request.parse(raw));
    return { status: statusOf?.when(body) ? statusOf.status : 200, body };
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
        const body = await answer(read(req), req);
        res.status(statusOf?.when(body) ? statusOf.status : 200).json(body);
      },
    ],
    examples: examples === undefined ? undefined : async () => realAnswers(await examples(), run, CODE_AND_MESSAGE_ERRORS),
  };
}

/**
 * What an endpoint that is not plain JSON answers: a status (200 unless said), headers, and a JSON
 * body, or bytes of a media type, or nothing.
 */
export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  json?: unknown;
  raw?: { type: string; body: Buffer };
}

export interface ReplyEndpoint<I> extends Omit<Endpoint, 'handlers' | 'examples'> {
  /** The request as `answer` takes it (path parameters, the body read). */
  read(req: Request): I | Promise<I>;
  answer(input: I): Reply | Promise<Reply>;
  /** How the app answers an error: for the document's examples. */
  errorWriter: ErrorWriter;
  /** Named inputs, good and bad: the document shows their real answers (those with a JSON body). */
  examples?: () => Record<string, I> | Promise<Record<string, I>>;
}

/** The body the document shows for a reply: its JSON, if it has any. */
const shownBody = (reply: Reply): unknown =>
  reply.json ?? (reply.raw?.type === 'application/json' ? (JSON.parse(reply.raw.body.toString('utf8')) as unknown) : undefined);

/** An endpoint answering a Reply (an empty 200, JSON, a binary message), and documenting it. */
export function replyEndpoint<I>(spec: ReplyEndpoint<I>): Endpoint {
  const { read, answer, errorWriter, examples, ...rest } = spec;
  return {
    ...rest,
    handlers: [
      async (req, res) => {
        const reply = await answer(await read(req));
        res.status(reply.status ?? 200);
        if (reply.headers !== undefined) res.set(reply.headers);
        if (reply.raw !== undefined) res.type(reply.raw.type).send(reply.raw.body);
        else if (reply.json !== undefined) res.json(reply.json);
        else res.end();
      },
    ],
    examples:
      examples === undefined
        ? undefined
        : async () =>
            realAnswers(
              await examples(),
              async (input) => {
                const reply = await answer(input);
                return { status: reply.status ?? 200, body: shownBody(reply) };
              },
              errorWriter,
            ),
  };
}

/** A Router answering the endpoints, at their full paths. */
export function mount(router: Router, endpoints: readonly Endpoint[]): Router {
  for (const e of endpoints) router[e.method](e.path, ...e.handlers);
  return router;
}

const JSON_TYPE = 'application/json';
const FORM_TYPE = 'application/x-www-form-urlencoded';

/** Deepest nesting a fields body may have: it is one object of plain values. */
const MAX_BODY_DEPTH = 8;

/**
 * express.json's `verify`, run before JSON.parse: V8 parses deeply nested arrays in more than
 * linear time (512 KB of "[" took 88 ms of the event loop), and no fields body nests. Refused as
 * the invalid JSON it is for this API (body-parser keeps the error's status and type).
 */
function shallowJson(_req: unknown, _res: unknown, body: Buffer): void {
  if (!jsonDepthWithin(body, MAX_BODY_DEPTH)) {
    throw Object.assign(new SyntaxError(`the body nests more than ${MAX_BODY_DEPTH} deep`), { status: 400, type: 'entity.parse.failed' });
  }
}

/**
 * express.urlencoded's `verify`, run on the raw bytes before they are decoded and parsed: turns each
 * "+" into the space it stands for, as the parser (qs) would, byte for byte (a literal "+" is sent
 * as %2B, and in the two charsets it accepts, UTF-8 and ISO-8859-1, byte 0x2B is only ever "+").
 * qs does it with String.replace(/\+/g, " "), which builds one part per match: a review form of
 * 240,000 "+" took 58 ms of the event loop that way (under a 2 MB semi-space, the start script's until issue 26),
 * and 5 ms done here.
 */
function plusAsSpace(_req: unknown, _res: unknown, body: Buffer): void {
  const first = body.indexOf(0x2b);
  if (first === -1) return;
  for (let i = first; i < body.length; i++) if (body[i] === 0x2b) body[i] = 0x20;
}

/** The body parser of a form (urlencoded) holding fields, at most `limit` bytes (fieldsBodyLimit). */
export function formParser(limit: number): RequestHandler {
  // inflate: false: a compressed body is refused (415 unsupported_encoding) rather than inflated to
  // many times its bytes before the limit applies.
  return express.urlencoded({ extended: false, limit, inflate: false, parameterLimit: 20, verify: plusAsSpace });
}

/** A JSON or urlencoded body holding `fields`, validated by their schemas; `example` is shown as the body. */
export function fieldsBody<F extends Fields>(fields: F, config: Config, example: Record<string, unknown>): RequestReader<ParsedFields<F>> {
  const schema = fieldsSchema(fields);
  const limit = fieldsBodyLimit(fields, config.maxBodyBytes);
  return {
    // The limit is what the fields can need; inflate: false as in formParser.
    middleware: [express.json({ limit, inflate: false, strict: false, verify: shallowJson }), formParser(limit)],
    read: (req) => parseFields(fields, req.body),
    parse: (raw) => parseFields(fields, raw),
    content: {
      [JSON_TYPE]: { schema, example },
      [FORM_TYPE]: { schema, example },
    },
  };
}
