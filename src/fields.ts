/**
 * Request fields, validated by zod schemas. The same schema parses the field in the routes and
 * describes it in the OpenAPI document (src/http/openapi.ts), so what is documented is what is
 * accepted. Failures become the app's AppErrors with their stable codes and messages: a field
 * says which code "missing" and any other failure are, and a check of its schema may name a more
 * precise code through `fail()`. No Node-only APIs: the browser can bundle this.
 */
import { z } from 'zod';
import { type ErrorCode, AppError, isErrorCode } from './errors';

export interface Field<S extends z.ZodType = z.ZodType> {
  schema: S;
  /** Answered when the field is absent or null. */
  missing: { code: ErrorCode; message: string };
  /** The code of any other failure (the message is the failing check's), unless the check names its own. */
  invalid: ErrorCode;
  /**
   * The most bytes a valid value takes in a JSON or urlencoded body, however it is written (see
   * MAX_BYTES_PER_CHAR): a body holding only such fields gets a limit derived from them
   * (fieldsBodyLimit) instead of MAX_BODY_KB. Without it, MAX_BODY_KB applies.
   */
  maxBytes?: number;
}

export type Fields = Record<string, Field>;
export type ParsedFields<F extends Fields> = { [K in keyof F]: z.output<F[K]['schema']> };

/** In a schema's superRefine: fail with this error code and message. */
export function fail(ctx: z.RefinementCtx, code: ErrorCode, message: string): void {
  ctx.addIssue({ code: 'custom', message, params: { code } });
}

export function parseField<S extends z.ZodType>(field: Field<S>, raw: unknown): z.output<S> {
  if (raw === undefined || raw === null) throw new AppError(field.missing.code, field.missing.message);
  const result = field.schema.safeParse(raw);
  if (result.success) return result.data;
  const named = namedIssue(result.error.issues);
  if (named !== null) throw new AppError(named.code, named.message);
  throw new AppError(field.invalid, result.error.issues[0]?.message ?? field.missing.message);
}

/** The first issue raised by fail(), looking inside a union's branches too. */
function namedIssue(issues: readonly z.core.$ZodIssue[]): { code: ErrorCode; message: string } | null {
  for (const issue of issues) {
    if (issue.code === 'custom' && isErrorCode(issue.params?.code)) return { code: issue.params.code, message: issue.message };
    if (issue.code === 'invalid_union') {
      for (const branch of issue.errors) {
        const inner = namedIssue(branch);
        if (inner !== null) return inner;
      }
    }
  }
  return null;
}

/** The fields of a JSON or urlencoded body, in order; anything that is not an object has none. */
export function parseFields<F extends Fields>(fields: F, body: unknown): ParsedFields<F> {
  const object = body !== null && typeof body === 'object' && !Array.isArray(body) && !ArrayBuffer.isView(body) ? body : {};
  const parsed: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(fields)) {
    parsed[name] = parseField(field, Object.hasOwn(object, name) ? (object as Record<string, unknown>)[name] : undefined);
  }
  return parsed as ParsedFields<F>;
}

/**
 * The most bytes one character (a code point) takes in a body: a 4-byte UTF-8 character is 12
 * urlencoded ("%F0%9F%98%80") and 12 JSON-escaped ("\ud83d\ude00"); any other takes fewer.
 */
export const MAX_BYTES_PER_CHAR = 12;
/**
 * No fields body is refused below this: parsing 16 KB costs microseconds, and a value somewhat
 * over its field's limit then gets the field's own message (invalid_x, review_too_long) rather
 * than body_too_large.
 */
const MIN_BODY_BYTES = 16 * 1024;
/** Room for JSON whitespace, the form's other inputs and the field names. */
const BODY_SLACK_BYTES = 1024;

/**
 * The body limit for a request holding `fields`: what their values can take at most, with room to
 * spare, within `ceiling` (MAX_BODY_KB). Each byte over what a valid request needs would only be
 * parsed, copied and checked to be refused (issue 22: 500 KB bodies of hostile values kept the
 * event loop busy for tens of ms each); over the limit, the body parser answers 413 unread.
 */
export function fieldsBodyLimit(fields: Fields, ceiling: number): number {
  let bytes = BODY_SLACK_BYTES;
  for (const [name, field] of Object.entries(fields)) {
    if (field.maxBytes === undefined) return ceiling;
    bytes += name.length + field.maxBytes;
  }
  return Math.min(ceiling, Math.max(MIN_BODY_BYTES, bytes));
}

/** The body's schema for the document: every field required. */
export function fieldsSchema(fields: Fields): z.ZodObject {
  return z.object(Object.fromEntries(Object.entries(fields).map(([name, field]) => [name, field.schema])));
}
