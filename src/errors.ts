/**
 * The one error family of the app. Anything that should reach a user as a 4xx/5xx answer is an
 * HttpError carrying a stable machine-readable code, a message a person can act on, and the
 * status its code has in ERRORS. The error handler in src/http/errors.ts is the only place that
 * turns these into responses.
 *
 * ERRORS is the list of every code the app can answer with: an HttpError cannot be built with any
 * other (the type says so), and the OpenAPI document (src/http/openapi.ts) takes its codes, their
 * statuses and their descriptions from here, so the published list is the thrown list.
 */

import { megabytes } from './units';

/** The three models, which are also the three forms of the page. */
export type FormName = 'regression' | 'malaria' | 'sentiment';

/**
 * What a request goes through, each step with the errors it can raise. An endpoint's
 * documentation names the steps it takes (src/http/endpoint.ts); every endpoint can also answer
 * the `any` step's errors.
 */
export type ErrorStep = 'any' | 'body' | 'upload' | 'image' | 'x' | 'review' | 'inference' | 'oip';

interface ErrorInfo {
  status: 400 | 401 | 404 | 413 | 415 | 429 | 500 | 503;
  /** When it happens, for the API reference. */
  when: string;
  steps: readonly ErrorStep[];
}

export const ERRORS = {
  // Reading a JSON or urlencoded body (express.json / express.urlencoded), or a raw image body.
  invalid_json: { status: 400, when: 'The body is not valid JSON.', steps: ['body'] },
  invalid_body: { status: 400, when: 'The body could not be read completely (the client stopped sending).', steps: ['body', 'upload'] },
  body_too_large: { status: 413, when: 'The body is larger than the limit (MAX_BODY_KB; a raw image: MAX_UPLOAD_MB; the model tier: MODEL_MAX_BODY_MB).', steps: ['body', 'upload'] },
  too_many_fields: { status: 413, when: 'A urlencoded form has more than 20 fields.', steps: ['body'] },
  unsupported_encoding: { status: 415, when: 'The body is compressed or not in UTF-8.', steps: ['body', 'upload'] },
  // Uploads: multipart/form-data or a raw image body.
  unsupported_content_type: { status: 415, when: 'The body is neither multipart/form-data nor a raw image.', steps: ['upload'] },
  invalid_multipart: { status: 400, when: 'The multipart body is malformed or cut off.', steps: ['upload'] },
  missing_image: { status: 400, when: 'No file in the field "image" and no raw body.', steps: ['upload'] },
  unexpected_field: { status: 400, when: 'A file was sent in a field other than "image".', steps: ['upload'] },
  too_many_files: { status: 400, when: 'More than one file was sent.', steps: ['upload'] },
  too_many_parts: { status: 413, when: 'The multipart body has too many parts or fields.', steps: ['upload'] },
  field_too_large: { status: 413, when: 'A multipart text field or field name is too long.', steps: ['upload'] },
  file_too_large: { status: 413, when: 'The file is larger than the upload limit (MAX_UPLOAD_MB).', steps: ['upload'] },
  // A post of several images (POST /api/predict/malaria/batch, the image form), as a whole.
  too_many_images: { status: 413, when: 'A post of several images has more than the limit (MAX_BATCH_FILES).', steps: [] },
  upload_too_large: { status: 413, when: 'A post of several images is larger than its limit (MAX_BATCH_MB).', steps: [] },
  // The image itself, judged by its bytes.
  empty_file: { status: 400, when: 'The file is empty.', steps: ['image'] },
  unsupported_image_type: { status: 415, when: 'The bytes are not a PNG, JPEG, WebP or GIF image, whatever the name or declared type.', steps: ['image'] },
  invalid_image: { status: 400, when: 'The image is damaged or truncated and cannot be decoded.', steps: ['image'] },
  image_too_large: { status: 413, when: 'The image has more pixels than the limit (MAX_IMAGE_MEGAPIXELS), read from its header before decoding.', steps: ['image'] },
  // The regression input.
  missing_x: { status: 400, when: '"x" is missing, null or blank.', steps: ['x'] },
  invalid_x: { status: 400, when: '"x" is not a finite number (or a decimal string) within float32 range.', steps: ['x'] },
  x_out_of_range: { status: 400, when: 'The prediction for this x is beyond float32 range.', steps: ['x'] },
  // The sentiment input.
  missing_review: { status: 400, when: '"review" is missing or null.', steps: ['review'] },
  invalid_review: { status: 400, when: '"review" is not text.', steps: ['review'] },
  empty_review: { status: 400, when: '"review" is empty or only white space.', steps: ['review'] },
  review_too_long: { status: 413, when: '"review" is longer than the limit (MAX_REVIEW_CHARS, counted in Unicode characters).', steps: ['review'] },
  // Running a model.
  models_loading: { status: 503, when: 'The models are still loading after a start; retry after Retry-After seconds.', steps: ['inference'] },
  overloaded: { status: 503, when: 'Too many predictions are waiting (QUEUE_LIMIT); retry after Retry-After seconds.', steps: ['inference'] },
  shutting_down: { status: 503, when: 'The server is shutting down; retry (another process will answer).', steps: ['inference'] },
  unavailable: { status: 503, when: 'The model process is restarting; retry after Retry-After seconds.', steps: ['inference'] },
  // With a model tier (INFERENCE_URL): how its failures reach people (src/inference/remote.ts).
  model_server_unavailable: { status: 503, when: 'The model tier (INFERENCE_URL) is not answering; retry after Retry-After seconds.', steps: ['inference'] },
  model_server_timeout: { status: 503, when: 'The model tier did not answer within INFERENCE_TIMEOUT_MS; retry after Retry-After seconds.', steps: ['inference'] },
  model_server_error: { status: 503, when: 'The model tier failed or refused this prediction; retry after Retry-After seconds.', steps: ['inference'] },
  model_server_changed: { status: 503, when: 'The model tier now runs a model version this app cannot feed (other inputs or outputs).', steps: ['inference'] },
  too_large_for_model_server: { status: 413, when: "The input is larger than the model tier's request limit (its MODEL_MAX_BODY_MB).", steps: ['inference'] },
  // Too many requests from one client (src/http/rate-limit.ts): named by the routes it guards.
  rate_limited: { status: 429, when: 'This client sent more predictions than the limit (RATE_LIMIT_PER_MINUTE); retry after Retry-After seconds.', steps: [] },
  // Any request.
  timeout: { status: 503, when: 'No answer within REQUEST_TIMEOUT_MS; retry after Retry-After seconds.', steps: ['any'] },
  internal_error: { status: 500, when: 'A fault on the server; the details are logged, not sent.', steps: ['any'] },
  not_found: { status: 404, when: 'Nothing at this method and path.', steps: [] },
  // The model tier (ROLE=models, src/oip/): Open Inference Protocol v2 requests. It answers
  // {"error": message}, as the protocol says; the codes name its cases in logs and tests.
  invalid_request: { status: 400, when: 'The inference request is not an object with a non-empty "inputs" list of tensors.', steps: ['oip'] },
  invalid_datatype: { status: 400, when: 'A tensor\'s "datatype" is not one the protocol defines or this server converts.', steps: ['oip'] },
  invalid_shape: { status: 400, when: 'A tensor\'s "shape" is not a list of whole numbers ≥ 0.', steps: ['oip'] },
  invalid_data: { status: 400, when: 'A tensor\'s "data" is missing or holds values of the wrong kind.', steps: ['oip'] },
  invalid_binary_data: { status: 400, when: 'Binary tensor data (Triton\'s extension) disagrees with its declared sizes.', steps: ['oip'] },
  invalid_header_length: { status: 400, when: 'Inference-Header-Content-Length is not a length within the body.', steps: ['oip'] },
  shape_mismatch: { status: 400, when: 'A tensor\'s shape and its number of data elements disagree.', steps: ['oip'] },
  unknown_input: { status: 400, when: 'The model has no input of that name.', steps: ['oip'] },
  duplicate_input: { status: 400, when: 'The same input is given twice.', steps: ['oip'] },
  missing_input: { status: 400, when: 'An input the model needs is missing.', steps: ['oip'] },
  wrong_datatype: { status: 400, when: 'An input\'s datatype differs from the model\'s configuration.', steps: ['oip'] },
  wrong_shape: { status: 400, when: 'An input\'s shape differs from the model\'s configuration.', steps: ['oip'] },
  batch_too_large: { status: 400, when: 'The batch is larger than the model\'s max_batch_size.', steps: ['oip'] },
  unknown_output: { status: 400, when: 'A requested output is not one of the model\'s.', steps: ['oip'] },
  unload_unsupported: { status: 400, when: 'Unloading a model is not supported: every model of the repository stays loaded.', steps: ['oip'] },
  load_failed: { status: 400, when: 'Loading a model from the repository failed (a bad config.pbtxt or model file).', steps: ['oip'] },
  unauthorized: { status: 401, when: 'INFERENCE_TOKEN is set and the request has no matching Authorization: Bearer header.', steps: ['oip'] },
  loading: { status: 503, when: 'The model tier is still loading its models.', steps: ['oip'] },
} as const satisfies Record<string, ErrorInfo>;

export type ErrorCode = keyof typeof ERRORS;
export type ErrorStatus = (typeof ERRORS)[ErrorCode]['status'];
/** The codes whose status is S, so `badRequest('file_too_large', …)` does not type-check. */
type CodeWithStatus<S extends ErrorStatus> = { [C in ErrorCode]: (typeof ERRORS)[C]['status'] extends S ? C : never }[ErrorCode];

/**
 * Every code. An app's document lists those its endpoints can answer (src/http/openapi.ts): the
 * JSON API's never includes the model tier's (step 'oip'), and the tier's never the JSON API's.
 */
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

export const isErrorCode = (code: unknown): code is ErrorCode => typeof code === 'string' && Object.hasOwn(ERRORS, code);

export class HttpError extends Error {
  readonly status: ErrorStatus;
  readonly code: ErrorCode;
  /** Seconds, sent as Retry-After (on 503s and 429s). */
  readonly retryAfter?: number;

  constructor(code: ErrorCode, message: string, options: { retryAfter?: number } = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = ERRORS[code].status;
    this.code = code;
    this.retryAfter = options.retryAfter;
  }

  /** True for errors the client caused (4xx); their message is safe and useful to show. */
  get expose(): boolean {
    return this.status < 500 || this.status === 503;
  }
}

export const badRequest = (code: CodeWithStatus<400>, message: string): HttpError => new HttpError(code, message);

export const payloadTooLarge = (code: CodeWithStatus<413>, message: string): HttpError => new HttpError(code, message);

export const unsupportedMediaType = (code: CodeWithStatus<415>, message: string): HttpError => new HttpError(code, message);

export const notFound = (message: string): HttpError => new HttpError('not_found', message);

export const serviceUnavailable = (code: CodeWithStatus<503>, message: string, retryAfter = 1): HttpError =>
  new HttpError(code, message, { retryAfter });

/** A file over the upload limit (MAX_UPLOAD_MB): an upload to the server, or an image file in a batch. */
export function fileTooLarge(maxBytes: number): HttpError {
  return payloadTooLarge('file_too_large', `The file is larger than ${megabytes(maxBytes)} MB. Choose a smaller image.`);
}

/** No image at all: an upload without one, or mlForms.predict('malaria', …) in the browser without a Blob. */
export function missingImage(): HttpError {
  return badRequest('missing_image', 'Choose a cell image to upload (PNG, JPEG, WebP or GIF), in the field "image".');
}
