/**
 * The model tier's request bodies, refused before they are parsed: the limits (MODEL_MAX_JSON_MB
 * for JSON and the JSON header before binary tensor data, MODEL_MAX_BODY_MB for bodies with binary
 * tensor data) and the budget of bodies held at once (MODEL_BODY_BUDGET_MB), so that one process
 * survives many large requests at once. Used by the endpoints that read a body (src/oip/endpoints.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError, invalidInput, inputTooLarge, unsupportedInput } from '../errors';
import { BINARY_HEADER } from './protocol';

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
