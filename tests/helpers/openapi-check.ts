/**
 * Every answer the HTTP tests receive from the app is checked against the app's own OpenAPI
 * document (app.locals.openapi, the same document /openapi.json serves, without examples):
 *  - on a documented operation, the status must be documented, the content type must be one of
 *    that status's (or none, with an empty body, where it documents none), and a JSON body must
 *    match its schema; an error 503 must carry Retry-After;
 *  - anywhere else, a JSON answer must be the documented error shape (a 404 for an unknown path,
 *    an error beside a form): a route answering undocumented JSON fails the test that called it.
 * installAnswerCheck() hooks supertest once for every test file (jest.config.js setupFilesAfterEnv);
 * both of ml-forms' apps are checked, the web app and the model tier (src/oip/server.ts), each
 * against its own document; apps that are not ml-forms' (a test's own small Express app) are left alone.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import request from 'supertest';
import type { ApiReference } from '../../src/http/reference';
import type { OpenApiDocument, Operation } from '../../src/http/openapi';

export interface Answer {
  method: string;
  path: string;
  status: number;
  contentType: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

interface Checker {
  check(answer: Answer): string | null;
}

const pointer = (...parts: string[]): string => parts.map((p) => encodeURIComponent(p.replaceAll('~', '~0').replaceAll('/', '~1'))).join('/');

/** A checker for one document: operations found by method and path, bodies validated by Ajv (JSON Schema 2020-12). */
export function answerChecker(doc: OpenApiDocument): Checker {
  const ajv = new Ajv2020({ strict: false, validateFormats: false, validateSchema: false, allErrors: true });
  ajv.addSchema(doc as object, 'openapi');
  const validators = new Map<string, ValidateFunction>();
  const validator = (ref: string): ValidateFunction => {
    let v = validators.get(ref);
    if (v === undefined) {
      v = ajv.compile({ $ref: `openapi#/${ref}` });
      validators.set(ref, v);
    }
    return v;
  };
  const routes = Object.keys(doc.paths).map((template) => ({
    template,
    pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{\w+\}/g, '[^/]+')}$`),
  }));
  const invalid = (v: ValidateFunction, body: unknown): string | null =>
    v(body) ? null : ajv.errorsText(v.errors, { dataVar: 'body' });

  return {
    check(a) {
      const where = `${a.method} ${a.path} → ${a.status} ${a.contentType || '(no content type)'}`;
      const template = routes.find((r) => r.pattern.test(a.path))?.template;
      const method = a.method.toLowerCase();
      const operation = template === undefined ? undefined : (doc.paths[template]?.[method as 'get' | 'post'] as Operation | undefined);
      if (operation === undefined || template === undefined) {
        if (a.contentType !== 'application/json' || method === 'head') return null;
        const problem = a.status >= 400 ? invalid(validator(pointer('components', 'schemas', 'Error')), a.body) : 'a JSON answer';
        return problem === null ? null : `${where}: not in the OpenAPI document (${problem})`;
      }
      const response = operation.responses[String(a.status)];
      if (response === undefined) return `${where}: status ${a.status} is not documented for ${method.toUpperCase()} ${template}`;
      const content = response.content ?? {};
      // An empty answer (no Content-Type, no bytes: a 304, an empty 200) where the document says there is no body.
      const empty = a.contentType === '' && (a.headers['content-length'] ?? '0') === '0';
      if (empty && Object.keys(content).length === 0) return null;
      if (!(a.contentType in content)) {
        return `${where}: ${a.contentType} is not documented for status ${a.status} (documented: ${Object.keys(content).join(', ') || 'no body'})`;
      }
      if (a.contentType === 'application/json') {
        const problem = invalid(validator(pointer('paths', template, method, 'responses', String(a.status), 'content', a.contentType, 'schema')), a.body);
        if (problem !== null) return `${where}: the body does not match the documented schema: ${problem}`;
        const isError = typeof a.body === 'object' && a.body !== null && 'error' in a.body;
        if (a.status === 503 && isError && a.headers['retry-after'] === undefined) return `${where}: a 503 error without Retry-After`;
      }
      return null;
    },
  };
}

/** What @seriousme/openapi-schema-validator (the official OpenAPI 3.1 schema) says of `doc`: `{ valid: true }`, or its errors. */
export async function validateDocument(doc: OpenApiDocument): Promise<unknown> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'openapi-')), 'openapi.json');
  fs.writeFileSync(file, JSON.stringify(doc));
  const cli = path.join(__dirname, '..', '..', 'node_modules', '@seriousme', 'openapi-schema-validator', 'bin', 'validate-api-cli.js');
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [cli, file]);
    return JSON.parse(stdout) as unknown;
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}

const checkers = new Map<string, Checker>();
const documents = new WeakMap<object, OpenApiDocument>();

/** The ml-forms app behind a supertest target (the app, or a server running it), if it is one. */
function referenceOf(target: unknown): { key: object; reference: ApiReference } | null {
  const app = typeof (target as Server | null)?.listeners === 'function' ? (target as Server).listeners('request')[0] : target;
  const reference = (app as { locals?: { openapi?: ApiReference } } | null)?.locals?.openapi;
  return reference === undefined ? null : { key: app as object, reference };
}

function checkerFor(target: unknown): Checker | null {
  const found = referenceOf(target);
  if (found === null) return null;
  let doc = documents.get(found.key);
  if (doc === undefined) {
    doc = found.reference.describe();
    documents.set(found.key, doc);
  }
  // Apps built with the same configuration publish the same document: compile it once.
  const key = JSON.stringify(doc);
  let checker = checkers.get(key);
  if (checker === undefined) {
    checker = answerChecker(doc);
    checkers.set(key, checker);
  }
  return checker;
}

type End = (this: request.Test, fn: (err: unknown, res: request.Response) => void) => request.Test;

/** Hooks supertest: each answer from an ml-forms app is checked; a mismatch fails that request. */
export function installAnswerCheck(): void {
  const proto = (request as unknown as { Test: { prototype: { end: End; __openapiChecked?: true } } }).Test.prototype;
  if (proto.__openapiChecked) return;
  proto.__openapiChecked = true;
  const end = proto.end;
  proto.end = function (this: request.Test, fn) {
    const test = this as request.Test & { app: unknown; method: string; url: string };
    return end.call(this, (err, res) => {
      if (res === undefined || res === null) return fn(err, res);
      const checker = checkerFor(test.app);
      const problem =
        checker?.check({
          method: test.method,
          path: new URL(test.url).pathname,
          status: res.status,
          contentType: (res.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '',
          headers: res.headers,
          body: res.body,
        }) ?? null;
      fn(err ?? (problem === null ? null : new Error(`Answer not as documented in /openapi.json: ${problem}`)), res);
    });
  };
}
