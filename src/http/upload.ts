/**
 * Getting the image bytes out of a request: multipart/form-data with one file in field "image"
 * (the form, and `curl -F image=@cell.png`), or, on the API, the raw bytes as the body
 * (`curl --data-binary @cell.png -H 'Content-Type: image/png'`). The bytes' format is decided
 * later from their magic numbers (src/images.ts), never from the declared type or file name.
 */
import express, { type Request, type RequestHandler } from 'express';
import multer from 'multer';
import { z } from 'zod';
import type { Config } from '../config';
import { AppError, invalidInput, fileTooLarge, missingImage, inputTooLarge, unsupportedInput } from '../errors';
import { ACCEPTED_FORMATS, ACCEPTED_FORMATS_TEXT } from '../image-header';
import type { RequestReader } from './endpoint';

export const IMAGE_FIELD = 'image';

/** Text fields an image form may carry besides its files (none are read): few and short. */
export const FORM_FIELD_LIMITS = { fields: 8, fieldSize: 64 * 1024, fieldNameSize: 100 } as const;

/**
 * The upload errors, one constructor each: the single-image upload and the multi-image one
 * (src/http/batch-upload.ts), both multer, answer the same codes and words.
 */
export const uploadErrors = {
  unexpectedField: (field: string | undefined): AppError =>
    invalidInput('unexpected_field', `Send the image in the field "${IMAGE_FIELD}", not "${field ?? ''}".`),
  tooManyParts: (): AppError => inputTooLarge('too_many_parts', 'The form has too many fields. Send only the image.'),
  fieldTooLarge: (): AppError => inputTooLarge('field_too_large', 'A form field is too long. Send only the image.'),
  missingImage, // shared with the browser engine (src/errors.ts)
  /** The single-image API also takes the raw image as the body; the form and a post of several images do not. */
  unsupportedContentType: (allowRawBody: boolean): AppError =>
    unsupportedInput(
      'unsupported_content_type',
      allowRawBody
        ? 'Send the image as multipart/form-data in the field "image", or as the raw body with Content-Type image/png, image/jpeg, image/webp or image/gif.'
        : 'Send the images as multipart/form-data, each in the field "image".',
    ),
  invalidMultipart: (): AppError =>
    invalidInput('invalid_multipart', 'The upload is not valid multipart/form-data. Send the image in the field "image".'),
};

/** Parse errors multer passes on from busboy ("Unexpected end of form", "Multipart: Boundary not found", ...). */
export const isMultipartParseError = (err: unknown): boolean =>
  err instanceof Error && /multipart|boundary|unexpected end of form|malformed part header/i.test(err.message);

/** multer's errors (its own and its parser's) → the app's errors, with words a person can act on. */
export function uploadError(err: unknown, maxUploadBytes: number): AppError | null {
  if (err instanceof multer.MulterError) {
    switch (err.code) {
      case 'LIMIT_FILE_SIZE':
        return fileTooLarge(maxUploadBytes);
      case 'LIMIT_FILE_COUNT':
        return invalidInput('too_many_files', 'Send exactly one image, in the field "image".');
      case 'LIMIT_UNEXPECTED_FILE':
        return uploadErrors.unexpectedField(err.field);
      case 'LIMIT_PART_COUNT':
      case 'LIMIT_FIELD_COUNT':
        return uploadErrors.tooManyParts();
      case 'LIMIT_FIELD_KEY':
      case 'LIMIT_FIELD_VALUE':
        return uploadErrors.fieldTooLarge();
      default:
        return invalidInput('invalid_multipart', 'The upload could not be read. Send the image as multipart/form-data.');
    }
  }
  return isMultipartParseError(err) ? uploadErrors.invalidMultipart() : null;
}

/**
 * The single-image API's upload: middleware putting the bytes at req.file.buffer (multipart) or
 * req.body (the raw image). The image form reads its post as several images (./batch-upload.ts).
 */
export function imageUpload(config: Config): RequestHandler {
  const multipart = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: config.maxUploadBytes, files: 1, parts: 10, ...FORM_FIELD_LIMITS },
  }).single(IMAGE_FIELD);
  const raw = express.raw({ type: () => true, limit: config.maxUploadBytes });

  return (req, res, next) => {
    const encoded = encodedBody(req);
    if (encoded !== null) return next(encoded);
    const type = req.headers['content-type'] ?? '';
    if (/^multipart\/form-data/i.test(type)) {
      multipart(req, res, (err?: unknown) => next(err === undefined ? undefined : (uploadError(err, config.maxUploadBytes) ?? err)));
      return;
    }
    if (/^(image\/[\w.+-]+|application\/octet-stream)\s*(;|$)/i.test(type)) {
      raw(req, res, next);
      return;
    }
    next(uploadErrors.unsupportedContentType(true));
  };
}

/**
 * A body sent with a Content-Encoding (gzip, br, …) is refused, as the JSON and form bodies are
 * (src/http/endpoint.ts, `inflate: false`): multipart would otherwise be parsed as compressed bytes
 * (a confusing "missing_image"), and an inflated raw body could grow far past what was sent.
 */
export function encodedBody(req: Request): AppError | null {
  const encoding = req.headers['content-encoding'];
  if (encoding === undefined || /^\s*identity\s*$/i.test(encoding)) return null;
  return unsupportedInput('unsupported_encoding', 'Send the body without content encoding (no Content-Encoding: gzip).');
}

/** The uploaded bytes, or a 400 saying what is missing. */
export function uploadedBytes(req: Request): Uint8Array {
  if (req.file !== undefined) return req.file.buffer;
  if (Buffer.isBuffer(req.body) && req.body.length > 0) return req.body;
  throw uploadErrors.missingImage();
}

/** The media types a raw image body may declare: the accepted formats, or "just bytes". */
const RAW_IMAGE_TYPES = [...ACCEPTED_FORMATS.map((f) => `image/${f}`), 'application/octet-stream'];

/**
 * The API's image upload: multipart field "image", or the raw image as the body. What is
 * documented is what imageUpload() accepts; the bytes are judged by the image decoder.
 */
export function imageBody(config: Config): RequestReader<Uint8Array> {
  const mb = config.maxUploadBytes / (1024 * 1024);
  const mp = Math.round(config.maxImagePixels / 1e4) / 100;
  const file = z.file().meta({
    description:
      `The image file: ${ACCEPTED_FORMATS_TEXT}, at most ${mb} MB and ${mp} megapixels (width × height, read from the header; ` +
      'a cell crop is about 150 × 150 pixels); the format is read from the bytes, not the name or declared type.',
  });
  return {
    middleware: [imageUpload(config)],
    read: uploadedBytes,
    parse: (raw) => raw as Uint8Array,
    description: `One image, as the multipart field "${IMAGE_FIELD}" or as the raw body.`,
    content: {
      'multipart/form-data': { schema: z.object({ [IMAGE_FIELD]: file }) },
      ...Object.fromEntries(RAW_IMAGE_TYPES.map((type) => [type, { schema: file }])),
    },
  };
}
