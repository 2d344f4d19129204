/**
 * Reading a multipart post with several images in the field "image" (the page's form with
 * `multiple`, `curl -F image=@a.png -F image=@b.png`) as a stream: each file is handed on as soon
 * as its last byte is in, so classifying overlaps the upload, and the next file is not read while
 * the consumer says wait (busboy then stops reading the request, and TCP slows the client), so one
 * post holds only a few files in memory besides those being classified.
 *
 * A problem with the whole post (not multipart, more than `maxFiles` images, a body over
 * `maxBytes`, a file in another field) rejects with its HttpError once the rest of the body has
 * been read and dropped, so the client, still sending, gets the answer instead of a reset
 * connection. A problem with one file (over the single-image size limit) is that file's `error`.
 */
import type { Request } from 'express';
import busboy from 'busboy';
import { type HttpError, fileTooLarge, payloadTooLarge } from '../errors';
import { batchTooLarge, tooManyFiles } from '../batch/limits';
import { IMAGE_FIELD, FORM_FIELD_LIMITS, isMultipartParseError, uploadErrors } from './upload';

export interface UploadedImage {
  /** Position in the post, from 0. */
  index: number;
  /** The file name the client sent (a folder path kept), cleaned for display; "image N" if none. */
  name: string;
  bytes: Uint8Array;
  /** Set when this file cannot be classified as sent. */
  error?: HttpError;
}

export interface BatchUploadLimits {
  maxFiles: number;
  /** The whole request body, multipart framing included. */
  maxBytes: number;
  /** Each file: the single-image limit. */
  maxFileBytes: number;
}

/** The whole-post errors of a multi-image post, worded as the page says them before sending. */
export const batchErrors = {
  tooManyFiles: (maxFiles: number): HttpError => {
    const e = tooManyFiles(maxFiles);
    return payloadTooLarge(e.code, e.message);
  },
  tooLarge: (maxBytes: number): HttpError => {
    const e = batchTooLarge(maxBytes);
    return payloadTooLarge(e.code, e.message);
  },
};

/** Longest file name kept: enough for a folder path, bounded for the page and the CSV. */
const MAX_NAME = 255;

/**
 * A file name as shown in the table and the CSV: the browser's escapes for `"`, CR and LF undone
 * (as multer does), control characters dropped, Windows separators as `/`, no leading `/`.
 */
export function cleanFileName(raw: string | undefined, index: number): string {
  const name = (raw ?? '')
    .replace(/%22/gi, '"')
    .replace(/%0A|%0D/gi, ' ')
    .replace(/\p{Cc}/gu, '')
    .replace(/\\/g, '/')
    .replace(/^\/+/, '')
    .trim()
    .slice(0, MAX_NAME);
  return name === '' ? `image ${index + 1}` : name;
}

/**
 * Reads the post, calling `onFile` for each image, in post order, once its bytes are in. While the
 * promise `onFile` returns is pending, the following files are not read. Resolves with the number
 * of images once the body has been read and every image handed on.
 */
export function readImageBatch(
  req: Request,
  limits: BatchUploadLimits,
  onFile: (file: UploadedImage) => Promise<void> | void,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    let count = 0;
    let handedOn = 0;
    let parsed = false;
    let gate: Promise<void> | null = null;

    // Read and drop the rest of the body, then answer: the client gets the error, not a reset.
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      req.unpipe(bb);
      bb.removeAllListeners();
      bb.on('error', () => undefined);
      const done = (): void => reject(err);
      if (req.readableEnded || req.destroyed) return done();
      req.once('end', done);
      req.once('close', done);
      req.resume();
    };
    const finishIfDone = (): void => {
      if (!settled && parsed && handedOn === count) {
        settled = true;
        resolve(count);
      }
    };

    const declared = Number(req.headers['content-length']);
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        preservePath: true,
        defParamCharset: 'utf8',
        limits: {
          files: limits.maxFiles,
          // busboy reports a limit when it is reached; one more byte means it was exceeded.
          fileSize: limits.maxFileBytes + 1,
          fields: FORM_FIELD_LIMITS.fields,
          parts: limits.maxFiles + FORM_FIELD_LIMITS.fields + 1,
          fieldSize: FORM_FIELD_LIMITS.fieldSize + 1,
          fieldNameSize: FORM_FIELD_LIMITS.fieldNameSize,
        },
      });
    } catch {
      req.resume();
      reject(uploadErrors.invalidMultipart());
      return;
    }
    if (declared > limits.maxBytes) {
      fail(batchErrors.tooLarge(limits.maxBytes));
      return;
    }

    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limits.maxBytes) fail(batchErrors.tooLarge(limits.maxBytes));
    });
    req.on('close', () => {
      if (!req.readableEnded) fail(uploadErrors.invalidMultipart());
    });

    bb.on('file', (field, stream, info) => {
      if (field !== IMAGE_FIELD) {
        stream.resume();
        fail(uploadErrors.unexpectedField(field));
        return;
      }
      const index = count++;
      const chunks: Buffer[] = [];
      let tooLarge = false;
      stream.on('data', (chunk: Buffer) => {
        if (!tooLarge) chunks.push(chunk);
      });
      // A part cut off mid-file: busboy destroys its stream with the same error it reports below.
      stream.on('error', (err: unknown) => fail(isMultipartParseError(err) ? uploadErrors.invalidMultipart() : err));
      stream.on('limit', () => {
        tooLarge = true;
        chunks.length = 0;
      });
      stream.on('end', () => {
        if (settled) return;
        const file: UploadedImage = {
          index,
          name: cleanFileName(info.filename, index),
          bytes: tooLarge ? new Uint8Array(0) : Buffer.concat(chunks),
          error: tooLarge ? fileTooLarge(limits.maxFileBytes) : undefined,
        };
        chunks.length = 0;
        const accepted = onFile(file);
        handedOn++;
        if (accepted instanceof Promise) {
          const thisGate: Promise<void> = accepted.then(
            () => {
              if (gate === thisGate) gate = null;
            },
            (err: unknown) => fail(err),
          );
          gate = thisGate;
        }
        finishIfDone();
      });
      if (gate !== null) {
        stream.pause();
        void gate.then(() => stream.resume());
      }
    });
    bb.on('field', (_name, _value, info) => {
      if (info.nameTruncated || info.valueTruncated) fail(uploadErrors.fieldTooLarge());
    });
    bb.on('filesLimit', () => fail(batchErrors.tooManyFiles(limits.maxFiles)));
    bb.on('partsLimit', () => fail(uploadErrors.tooManyParts()));
    bb.on('fieldsLimit', () => fail(uploadErrors.tooManyParts()));
    bb.on('error', (err: unknown) => fail(isMultipartParseError(err) ? uploadErrors.invalidMultipart() : err));
    bb.on('close', () => {
      parsed = true;
      finishIfDone();
    });
    req.pipe(bb);
  });
}
