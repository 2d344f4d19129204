/**
 * Reading a multipart post with several images in the field "image" (the page's form with
 * `multiple`, `curl -F image=@a.png -F image=@b.png`) as a stream, through multer: a storage engine
 * that stores nothing (ImageStream) gets each file's stream as its part begins and hands the file
 * on as soon as its last byte is in, so classifying overlaps the upload. The next file is not read
 * while the consumer says wait (the parser then stops reading the request, and TCP slows the
 * client), so one post holds only a few files in memory besides those being classified.
 *
 * A problem with the whole post (not multipart, more than `maxFiles` images, a body over
 * `maxBytes`, a file in another field) rejects with its AppError once the rest of the body has
 * been read and dropped, so the client, still sending, gets the answer instead of a reset
 * connection. A problem with one file (over the single-image size limit) is that file's `error`.
 *
 * Who checks what: multer's own limits (files, parts, fields, field sizes) and its field check
 * (`.array("image")`) fail the post, and multer drains the body before calling back. The per-file
 * size is counted in the engine, since multer's `fileSize` would fail the whole post. multer has
 * no limit on the whole body: `streamHandler` (the multer option that feeds it the body) counts the
 * bytes and, past the limit, destroys the parser with the error, which multer handles like a parse
 * error. multer skips a part whose file name is empty (what a browser sends for an empty file input).
 */
import type { Writable } from 'node:stream';
import type { Request, Response } from 'express';
import multer from 'multer';
import { AppError, fileTooLarge, inputTooLarge } from '../errors';
import { batchTooLarge, tooManyFiles } from '../batch/limits';
import { IMAGE_FIELD, FORM_FIELD_LIMITS, encodedBody, uploadError, uploadErrors } from './upload';

export interface UploadedImage {
  /** Position in the post, from 0. */
  index: number;
  /** The file name the client sent (a folder path kept), cleaned for display; "image N" if none. */
  name: string;
  bytes: Uint8Array;
  /** Set when this file cannot be classified as sent. */
  error?: AppError;
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
  tooManyFiles: (maxFiles: number): AppError => {
    const e = tooManyFiles(maxFiles);
    return inputTooLarge(e.code, e.message);
  },
  tooLarge: (maxBytes: number): AppError => {
    const e = batchTooLarge(maxBytes);
    return inputTooLarge(e.code, e.message);
  },
};

/** Longest file name kept: enough for a folder path, bounded for the page and the CSV. */
const MAX_NAME = 255;

/**
 * A file name as shown in the table and the CSV: the browser's escapes for `"`, CR and LF undone
 * (multer has undone them already in `originalname`; a raw name gets the same), CR and LF as
 * spaces, other control characters and format characters dropped (U+202E, which makes
 * "a<U+202E>gnp.exe" show as "aexe.png"; zero-width characters; BOM), Windows separators as `/`, no leading `/`,
 * not cut inside a surrogate pair. A name that starts like a spreadsheet formula is kept: the CSV
 * writer escapes it (src/batch/rows.ts).
 */
export function cleanFileName(raw: string | undefined, index: number): string {
  const name = (raw ?? '')
    .replace(/%22/gi, '"')
    .replace(/%0A|%0D|[\r\n]/gi, ' ')
    .replace(/[\p{Cc}\p{Cf}]/gu, '')
    .replace(/\\/g, '/')
    .replace(/^\/+/, '')
    .trim()
    .slice(0, MAX_NAME)
    .replace(/[\uD800-\uDBFF]$/, '');
  return name === '' ? `image ${index + 1}` : name;
}

type OnFile = (file: UploadedImage) => Promise<void> | void;

/**
 * multer's storage engine for one post: keeps no file, hands each one on in post order.
 *
 * A file is read once the one before it has been handed on and the consumer's promise for it has
 * settled, unless its bytes are in memory anyway: the parser has got past it (the next part began)
 * or the request body has ended. So only the file the parser is in is held, which is what holds the
 * parser, and the request, back; holding more would save no memory, and multer waits for every file
 * in hand before it answers a failed post.
 */
class ImageStream implements multer.StorageEngine {
  /** Files handed to the engine so far. */
  count = 0;
  /** A rejection of the consumer's promise: it fails the post. */
  failure: { err: unknown } | null = null;
  /** Settles with the consumer's promise for the last file once that file is handed on. */
  private handedOn: Promise<{ next: Promise<void> }> = Promise.resolve({ next: Promise.resolve() });
  private releaseNewest: () => void = () => undefined;
  private bodyEnded = false;

  constructor(
    private readonly maxFileBytes: number,
    private readonly onFile: OnFile,
  ) {}

  _handleFile(
    _req: Request,
    file: Express.Multer.File,
    cb: (error?: unknown, info?: Partial<Express.Multer.File>) => void,
  ): void {
    const index = this.count++;
    this.releaseNewest();
    const released = this.bodyEnded
      ? Promise.resolve()
      : new Promise<void>((resolve) => (this.releaseNewest = resolve));
    const handedOn = this.handedOn.then(async ({ next }) => {
      await Promise.race([next, released]);
      if (this.failure !== null) throw this.failure.err;
      const { bytes, size } = await readAtMost(file.stream, this.maxFileBytes);
      const image: UploadedImage = {
        index,
        name: cleanFileName(file.originalname, index),
        bytes: bytes ?? new Uint8Array(0),
        error: bytes === null ? fileTooLarge(this.maxFileBytes) : undefined,
      };
      const accepted = Promise.resolve(this.onFile(image)).catch((err: unknown) => {
        this.failure ??= { err };
      });
      return { next: accepted, size };
    });
    this.handedOn = handedOn;
    handedOn.then(({ size }) => cb(null, { size }), cb);
  }

  /** The request body has been read: no file is held any more. */
  bodyReceived(): void {
    this.bodyEnded = true;
    this.releaseNewest();
  }

  /** multer calls this for the files in hand when the post fails: they were handed on, not kept. */
  _removeFile(_req: Request, _file: Express.Multer.File, cb: (error: Error | null) => void): void {
    cb(null);
  }
}

/** A file's bytes, or null if there are more than `maxBytes` (then read to the end and dropped). */
async function readAtMost(
  stream: AsyncIterable<Buffer>,
  maxBytes: number,
): Promise<{ bytes: Buffer | null; size: number }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size <= maxBytes) chunks.push(chunk);
    else chunks.length = 0;
  }
  return { bytes: size <= maxBytes ? Buffer.concat(chunks, size) : null, size };
}

/**
 * multer's `streamHandler` (multer 2.5; not yet in @types/multer 2.3): feeds the body to multer's
 * parser as its default does, and fails the post once the body is over `maxBytes` (declared, or
 * counted when sent chunked).
 */
function feedAtMost(maxBytes: number): (req: Request, parser: Writable) => void {
  return (req, parser) => {
    const tooLarge = (): void => {
      req.off('data', count);
      req.unpipe(parser);
      parser.destroy(batchErrors.tooLarge(maxBytes));
    };
    let received = 0;
    const count = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > maxBytes) tooLarge();
    };
    if (Number(req.headers['content-length']) > maxBytes) return tooLarge();
    req.on('data', count);
    req.pipe(parser);
  };
}

/** multer's errors and ours → the AppError the client gets. */
function batchError(err: unknown, req: Request, limits: BatchUploadLimits): unknown {
  if (err instanceof AppError) return err;
  if (err instanceof multer.MulterError && err.code === 'LIMIT_FILE_COUNT')
    return batchErrors.tooManyFiles(limits.maxFiles);
  // "Request aborted" / "Request closed": the client left mid-post and will not read the answer.
  return uploadError(err, limits.maxFileBytes) ?? (req.readableEnded ? err : uploadErrors.invalidMultipart());
}

/** Calls `then` once the request body has been read to its end (or the connection is gone). */
function afterBody(req: Request, then: () => void): void {
  if (req.readableEnded || req.destroyed) return then();
  req.once('end', then);
  req.once('close', then);
  req.resume();
}

/**
 * Reads the post, calling `onFile` for each image, in post order, once its bytes are in. While the
 * promise `onFile` returns is pending, the following files are not read. Resolves with the number
 * of images once the body has been read and every image handed on.
 */
export function readImageBatch(
  req: Request,
  res: Response,
  limits: BatchUploadLimits,
  onFile: OnFile,
): Promise<number> {
  const encoded = encodedBody(req);
  if (encoded !== null) return Promise.reject(encoded);
  const engine = new ImageStream(limits.maxFileBytes, onFile);
  const options: multer.Options & { streamHandler: ReturnType<typeof feedAtMost> } = {
    storage: engine,
    preservePath: true,
    defParamCharset: 'utf8',
    limits: {
      files: limits.maxFiles,
      fields: FORM_FIELD_LIMITS.fields,
      parts: limits.maxFiles + FORM_FIELD_LIMITS.fields,
      fieldSize: FORM_FIELD_LIMITS.fieldSize,
      fieldNameSize: FORM_FIELD_LIMITS.fieldNameSize,
    },
    streamHandler: feedAtMost(limits.maxBytes),
  };
  // One multer per post: its engine holds this post's consumer (creating one is a few assignments).
  const upload = multer(options).array(IMAGE_FIELD);
  req.once('end', () => engine.bodyReceived());
  return new Promise<number>((resolve, reject) => {
    upload(req, res, (err?: unknown) => {
      if (err === undefined) {
        if (engine.failure === null) resolve(engine.count);
        else reject(engine.failure.err);
        return;
      }
      // multer has drained the body for its own errors; not when it could not start parsing.
      afterBody(req, () => reject(batchError(err, req, limits)));
    });
  });
}
