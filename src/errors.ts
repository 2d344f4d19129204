/**
 * The one error family of the app, with no HTTP in it. Anything that should reach a user as a
 * refusal is an AppError carrying a stable machine-readable code, a message a person can act on,
 * and the kind of failure its code is (invalid input, too large, unavailable …). Core, inference,
 * the CLI and the browser raise and inspect these by code and kind; only the serving layers turn a
 * kind into a protocol status (src/http/status.ts, the one table), and the error handler in
 * src/http/errors.ts is the only place that turns them into web answers.
 *
 * ERRORS is the list of every code the app can answer with: an AppError cannot be built with any
 * other (the type says so), and the OpenAPI document (src/http/openapi.ts) takes its codes and
 * their descriptions from here (statuses from src/http/status.ts), so the published list is the
 * thrown list.
 */

import { megabytes } from './units';

/** A model's name, which is also its form's on the page (the table: src/models/index.ts). */
export type FormName = string;

/**
 * What a request goes through, each step with the errors it can raise. An endpoint's
 * documentation names the steps it takes (src/http/endpoint.ts); every endpoint can also answer
 * the `any` step's errors.
 */
export type ErrorStep = 'any' | 'body' | 'upload' | 'image' | 'x' | 'review' | 'inference' | 'oip' | 'feedback' | 'report' | 'admin';

/**
 * What went wrong, as a caller decides on it: whose fault, worth retrying. Each serving layer maps
 * a kind to its protocol's status (src/http/status.ts).
 */
export type ErrorKind = 'invalid' | 'too_large' | 'unsupported' | 'not_found' | 'unauthorized' | 'rate_limited' | 'unavailable' | 'internal';

interface ErrorInfo {
  kind: ErrorKind;
  /** When it happens, for the API reference. */
  when: string;
  steps: readonly ErrorStep[];
}

export const ERRORS = {
  // Reading a JSON or urlencoded body (express.json / express.urlencoded), or a raw image body.
  invalid_json: { kind: 'invalid', when: 'The body is not valid JSON.', steps: ['body'] },
  invalid_body: { kind: 'invalid', when: 'The body could not be read completely (the client stopped sending).', steps: ['body', 'upload'] },
  body_too_large: { kind: 'too_large', when: 'The body is larger than the limit (MAX_BODY_KB; a raw image: MAX_UPLOAD_MB; the model tier: MODEL_MAX_BODY_MB).', steps: ['body', 'upload'] },
  too_many_fields: { kind: 'too_large', when: 'A urlencoded form has more than 20 fields.', steps: ['body'] },
  unsupported_encoding: { kind: 'unsupported', when: 'The body is compressed or not in UTF-8.', steps: ['body', 'upload'] },
  // Uploads: multipart/form-data or a raw image body.
  unsupported_content_type: { kind: 'unsupported', when: 'The body is neither multipart/form-data nor a raw image.', steps: ['upload'] },
  invalid_multipart: { kind: 'invalid', when: 'The multipart body is malformed or cut off.', steps: ['upload'] },
  missing_image: { kind: 'invalid', when: 'No file in the field "image" and no raw body.', steps: ['upload'] },
  unexpected_field: { kind: 'invalid', when: 'A file was sent in a field other than "image".', steps: ['upload'] },
  too_many_files: { kind: 'invalid', when: 'More than one file was sent.', steps: ['upload'] },
  too_many_parts: { kind: 'too_large', when: 'The multipart body has too many parts or fields.', steps: ['upload'] },
  field_too_large: { kind: 'too_large', when: 'A multipart text field or field name is too long.', steps: ['upload'] },
  file_too_large: { kind: 'too_large', when: 'The file is larger than the upload limit (MAX_UPLOAD_MB).', steps: ['upload'] },
  // A post of several images (POST /api/predict/<image model>/batch, the image form), as a whole.
  too_many_images: { kind: 'too_large', when: 'A post of several images has more than the limit (MAX_BATCH_FILES).', steps: [] },
  upload_too_large: { kind: 'too_large', when: 'A post of several images is larger than its limit (MAX_BATCH_MB).', steps: [] },
  // The image itself, judged by its bytes.
  empty_file: { kind: 'invalid', when: 'The file is empty.', steps: ['image'] },
  unsupported_image_type: { kind: 'unsupported', when: 'The bytes are not a PNG, JPEG, WebP or GIF image, whatever the name or declared type.', steps: ['image'] },
  invalid_image: { kind: 'invalid', when: 'The image is damaged or truncated and cannot be decoded.', steps: ['image'] },
  image_too_large: { kind: 'too_large', when: 'The image has more pixels than the limit (MAX_IMAGE_MEGAPIXELS), read from its header before decoding.', steps: ['image'] },
  // A number field x.
  missing_x: { kind: 'invalid', when: '"x" is missing, null or blank.', steps: ['x'] },
  invalid_x: { kind: 'invalid', when: '"x" is not a finite number (or a decimal string) within float32 range.', steps: ['x'] },
  x_out_of_range: { kind: 'invalid', when: 'The prediction for this x is beyond float32 range.', steps: ['x'] },
  // A text field review.
  missing_review: { kind: 'invalid', when: '"review" is missing or null.', steps: ['review'] },
  invalid_review: { kind: 'invalid', when: '"review" is not text.', steps: ['review'] },
  empty_review: { kind: 'invalid', when: '"review" is empty or only white space.', steps: ['review'] },
  review_too_long: { kind: 'too_large', when: '"review" is longer than the limit (MAX_REVIEW_CHARS, counted in Unicode characters).', steps: ['review'] },
  // The query of a prediction request.
  invalid_explain: { kind: 'invalid', when: 'The query parameter "explain" is not 1, true, 0 or false.', steps: [] },
  // Running a model.
  models_loading: { kind: 'unavailable', when: 'The models are still loading after a start; retry after Retry-After seconds.', steps: ['inference'] },
  overloaded: { kind: 'unavailable', when: 'Too many predictions are waiting (QUEUE_LIMIT); retry after Retry-After seconds.', steps: ['inference'] },
  shutting_down: { kind: 'unavailable', when: 'The server is shutting down; retry (another process will answer).', steps: ['inference'] },
  unavailable: { kind: 'unavailable', when: 'The model process is restarting; retry after Retry-After seconds.', steps: ['inference'] },
  // With a model tier (INFERENCE_URL): how its failures reach people (src/inference/oip-wording.ts).
  model_server_unavailable: { kind: 'unavailable', when: 'The model tier (INFERENCE_URL) is not answering; retry after Retry-After seconds.', steps: ['inference'] },
  model_server_timeout: { kind: 'unavailable', when: 'The model tier did not answer within INFERENCE_TIMEOUT_MS; retry after Retry-After seconds.', steps: ['inference'] },
  model_server_error: { kind: 'unavailable', when: 'The model tier failed or refused this prediction; retry after Retry-After seconds.', steps: ['inference'] },
  model_server_changed: { kind: 'unavailable', when: 'The model tier now runs a model version this app cannot feed (other inputs or outputs).', steps: ['inference'] },
  too_large_for_model_server: { kind: 'too_large', when: "The input is larger than the model tier's request limit (its MODEL_MAX_BODY_MB).", steps: ['inference'] },
  // Too many requests from one client (src/http/rate-limit.ts): named by the routes it guards.
  rate_limited: { kind: 'rate_limited', when: 'This client sent more predictions (RATE_LIMIT_PER_MINUTE) or feedback (FEEDBACK_PER_MINUTE) than the limit; retry after Retry-After seconds.', steps: [] },
  // Feedback on a prediction (POST /api/feedback, the page's "Wrong?" form) and the monitoring page.
  invalid_feedback: { kind: 'invalid', when: 'The feedback is not an object with "prediction_id" and the right answer ("label" for a classifier, "value" for a value model), an optional "note" (at most 1,000 characters) and "share_input" (true or false).', steps: ['feedback'] },
  invalid_label: { kind: 'invalid', when: '"label" is not one of the model\'s labels (or "value" is not a finite number).', steps: ['feedback', 'report'] },
  invalid_report: { kind: 'invalid', when: 'The browser\'s prediction is not an object with "model" and "version" (a model this server serves, the version the browser ran), the answer ("label" and "confidence" from 0 to 1 for a classifier, "value" for a value model) and "latency_ms" (0 to 3,600,000).', steps: ['report'] },
  unknown_prediction: { kind: 'not_found', when: 'No prediction has this id: it was never made, was made with the prediction log off, or is older than RETENTION_DAYS.', steps: ['feedback'] },
  unknown_feedback: { kind: 'not_found', when: 'No feedback has this id.', steps: [] },
  database_unavailable: { kind: 'unavailable', when: 'The database (DATABASE_URL) cannot be reached; retry after Retry-After seconds. Predictions keep answering.', steps: ['feedback', 'admin'] },
  invalid_monitor_window: { kind: 'invalid', when: 'The query parameter "hours" is not a whole number from 1 to 8784.', steps: [] },
  admin_unauthorized: { kind: 'unauthorized', when: 'ADMIN_TOKEN is set and the request does not carry it (Authorization: Bearer, or HTTP Basic with the token as password).', steps: ['admin'] },
  // Any request.
  timeout: { kind: 'unavailable', when: 'No answer within REQUEST_TIMEOUT_MS; retry after Retry-After seconds.', steps: ['any'] },
  internal_error: { kind: 'internal', when: 'A fault on the server; the details are logged, not sent.', steps: ['any'] },
  not_found: { kind: 'not_found', when: 'Nothing at this method and path.', steps: [] },
  // The model tier (ROLE=models, src/oip/): Open Inference Protocol v2 requests. It answers
  // {"error": message}, as the protocol says; the codes name its cases in logs and tests.
  invalid_request: { kind: 'invalid', when: 'The inference request is not an object with a non-empty "inputs" list of tensors.', steps: ['oip'] },
  invalid_datatype: { kind: 'invalid', when: 'A tensor\'s "datatype" is not one the protocol defines or this server converts.', steps: ['oip'] },
  invalid_shape: { kind: 'invalid', when: 'A tensor\'s "shape" is not a list of whole numbers ≥ 0.', steps: ['oip'] },
  invalid_data: { kind: 'invalid', when: 'A tensor\'s "data" is missing or holds values of the wrong kind.', steps: ['oip'] },
  invalid_binary_data: { kind: 'invalid', when: 'Binary tensor data (Triton\'s extension) disagrees with its declared sizes.', steps: ['oip'] },
  invalid_header_length: { kind: 'invalid', when: 'Inference-Header-Content-Length is not a length within the body.', steps: ['oip'] },
  shape_mismatch: { kind: 'invalid', when: 'A tensor\'s shape and its number of data elements disagree.', steps: ['oip'] },
  unknown_input: { kind: 'invalid', when: 'The model has no input of that name.', steps: ['oip'] },
  duplicate_input: { kind: 'invalid', when: 'The same input is given twice.', steps: ['oip'] },
  missing_input: { kind: 'invalid', when: 'An input the model needs is missing.', steps: ['oip'] },
  wrong_datatype: { kind: 'invalid', when: 'An input\'s datatype differs from the model\'s configuration.', steps: ['oip'] },
  wrong_shape: { kind: 'invalid', when: 'An input\'s shape differs from the model\'s configuration.', steps: ['oip'] },
  batch_too_large: { kind: 'invalid', when: 'The batch is larger than the model\'s max_batch_size.', steps: ['oip'] },
  unknown_output: { kind: 'invalid', when: 'A requested output is not one of the model\'s.', steps: ['oip'] },
  unload_unsupported: { kind: 'invalid', when: 'Unloading a model is not supported: every model of the repository stays loaded.', steps: ['oip'] },
  load_failed: { kind: 'invalid', when: 'Loading a model from the repository failed (a bad config.pbtxt or model file).', steps: ['oip'] },
  unauthorized: { kind: 'unauthorized', when: 'INFERENCE_TOKEN is set and the request has no matching Authorization: Bearer header.', steps: ['oip'] },
  loading: { kind: 'unavailable', when: 'The model tier is still loading its models.', steps: ['oip'] },
} as const satisfies Record<string, ErrorInfo>;

export type ErrorCode = keyof typeof ERRORS;
/** The codes of kind K, so `invalidInput('file_too_large', …)` does not type-check. */
export type CodeOfKind<K extends ErrorKind> = { [C in ErrorCode]: (typeof ERRORS)[C]['kind'] extends K ? C : never }[ErrorCode];

/**
 * Every code. An app's document lists those its endpoints can answer (src/http/openapi.ts): the
 * JSON API's never includes the model tier's (step 'oip'), and the tier's never the JSON API's.
 */
export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

export const isErrorCode = (code: unknown): code is ErrorCode => typeof code === 'string' && Object.hasOwn(ERRORS, code);

export const kindOf = (code: ErrorCode): ErrorKind => ERRORS[code].kind;

/** Kinds worth trying again after a pause (Retry-After): nothing was wrong with the input. */
export const isRetryable = (kind: ErrorKind): boolean => kind === 'unavailable' || kind === 'rate_limited';

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  /** Seconds until a retry may succeed (unavailable, rate_limited): a web answer's Retry-After. */
  readonly retryAfter?: number;

  constructor(code: ErrorCode, message: string, options: { retryAfter?: number } = {}) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.kind = ERRORS[code].kind;
    this.retryAfter = options.retryAfter;
  }

  /** False only for faults of our own (internal): other messages are safe and useful to show. */
  get expose(): boolean {
    return this.kind !== 'internal';
  }
}

export const invalidInput = (code: CodeOfKind<'invalid'>, message: string): AppError => new AppError(code, message);

export const inputTooLarge = (code: CodeOfKind<'too_large'>, message: string): AppError => new AppError(code, message);

export const unsupportedInput = (code: CodeOfKind<'unsupported'>, message: string): AppError => new AppError(code, message);

export const notFound = (message: string): AppError => new AppError('not_found', message);

export const unavailable = (code: CodeOfKind<'unavailable'>, message: string, retryAfter = 1): AppError =>
  new AppError(code, message, { retryAfter });

/** A file over the upload limit (MAX_UPLOAD_MB): an upload to the server, or an image file in a batch. */
export function fileTooLarge(maxBytes: number): AppError {
  return inputTooLarge('file_too_large', `The file is larger than ${megabytes(maxBytes)} MB. Choose a smaller image.`);
}

/** No image at all: an upload without one, or mlForms.predict(<image model>, …) in the browser without a Blob. */
export function missingImage(): AppError {
  return invalidInput('missing_image', 'Choose a cell image to upload (PNG, JPEG, WebP or GIF), in the field "image".');
}
