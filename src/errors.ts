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

/** The three models, which are also the three forms of the page. */
export type FormName = 'regression' | 'malaria' | 'sentiment';

/**
 * What a request goes through, each step with the errors it can raise. An endpoint's
 * documentation names the steps it takes (src/http/endpoint.ts); every endpoint can also answer
 * the `any` step's errors.
 */
export type ErrorStep = 'any' | 'body' | 'upload' | 'image' | 'x' | 'review' | 'inference';

interface ErrorInfo {
  status: 400 | 404 | 413 | 415 | 500 | 503;
  /** When it happens, for the API reference. */
  when: string;
  steps: readonly ErrorStep[];
}

export const ERRORS = {
  // Reading a JSON or urlencoded body (express.json / express.urlencoded), or a raw image body.
  invalid_json: { status: 400, when: 'The body is not valid JSON.', steps: ['body'] },
  invalid_body: { status: 400, when: 'The body could not be read completely (the client stopped sending).', steps: ['body', 'upload'] },
  body_too_large: { status: 413, when: 'The body is larger than the limit (MAX_BODY_KB; a raw image: MAX_UPLOAD_MB).', steps: ['body', 'upload'] },
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
  // Any request.
  timeout: { status: 503, when: 'No answer within REQUEST_TIMEOUT_MS; retry after Retry-After seconds.', steps: ['any'] },
  internal_error: { status: 500, when: 'A fault on the server; the details are logged, not sent.', steps: ['any'] },
  not_found: { status: 404, when: 'Nothing at this method and path.', steps: [] },
} as const satisfies Record<string, ErrorInfo>;

export type ErrorCode = keyof typeof ERRORS;
export type ErrorStatus = (typeof ERRORS)[ErrorCode]['status'];
/** The codes whose status is S, so `badRequest('file_too_large', …)` does not type-check. */
type CodeWithStatus<S extends ErrorStatus> = { [C in ErrorCode]: (typeof ERRORS)[C]['status'] extends S ? C : never }[ErrorCode];

export const ERROR_CODES = Object.keys(ERRORS) as ErrorCode[];

export const isErrorCode = (code: unknown): code is ErrorCode => typeof code === 'string' && Object.hasOwn(ERRORS, code);

export class HttpError extends Error {
  readonly status: ErrorStatus;
  readonly code: ErrorCode;
  /** Seconds, sent as Retry-After on 503s. */
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
