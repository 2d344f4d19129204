/**
 * Request fields, validated by zod schemas. The same schema parses the field in the routes and
 * describes it in the OpenAPI document (src/http/openapi.ts), so what is documented is what is
 * accepted. Failures become the app's HttpErrors with their stable codes and messages: a field
 * says which code "missing" and any other failure are, and a check of its schema may name a more
 * precise code through `fail()`. No Node-only APIs: the browser can bundle this.
 */
import { z } from 'zod';
import { type ErrorCode, HttpError, isErrorCode } from './errors';

export interface Field<S extends z.ZodType = z.ZodType> {
  schema: S;
  /** Answered when the field is absent or null. */
  missing: { code: ErrorCode; message: string };
  /** The code of any other failure (the message is the failing check's), unless the check names its own. */
  invalid: ErrorCode;
}

export type Fields = Record<string, Field>;
export type ParsedFields<F extends Fields> = { [K in keyof F]: z.output<F[K]['schema']> };

/** In a schema's superRefine: fail with this error code and message. */
export function fail(ctx: z.RefinementCtx, code: ErrorCode, message: string): void {
  ctx.addIssue({ code: 'custom', message, params: { code } });
}

export function parseField<S extends z.ZodType>(field: Field<S>, raw: unknown): z.output<S> {
  if (raw === undefined || raw === null) throw new HttpError(field.missing.code, field.missing.message);
  const result = field.schema.safeParse(raw);
  if (result.success) return result.data;
  const named = namedIssue(result.error.issues);
  if (named !== null) throw new HttpError(named.code, named.message);
  throw new HttpError(field.invalid, result.error.issues[0]?.message ?? field.missing.message);
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

/** The body's schema for the document: every field required. */
export function fieldsSchema(fields: Fields): z.ZodObject {
  return z.object(Object.fromEntries(Object.entries(fields).map(([name, field]) => [name, field.schema])));
}
