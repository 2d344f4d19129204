/**
 * The /docs page's view model: the OpenAPI document (the one /openapi.json serves, examples
 * included) turned into what views/docs.ejs draws. Nothing is written here about any endpoint:
 * paths, fields, answers, error codes and examples all come from the document, and the curl lines
 * from each request body's media types and example.
 */
import type { JsonSchema, OpenApiDocument, Operation, Response } from './openapi';

export interface FieldRow {
  name: string;
  type: string;
  required: boolean;
  description: string;
}

export interface SchemaView {
  /** What it is, in a few words: "object", "ModelCard", "number or string", … */
  type: string;
  /** For objects: one row per property. */
  fields: FieldRow[];
  /** Link target when it is a named schema. */
  ref: string | null;
}

export interface ResponseView {
  status: string;
  description: string;
  media: string[];
  schema: SchemaView | null;
  codes: string[];
  headers: string[];
  examples: { summary: string; json: string }[];
}

export interface OperationView {
  id: string;
  method: string;
  path: string;
  summary: string;
  description: string | null;
  requestDescription: string | null;
  bodies: { media: string; schema: SchemaView }[];
  curl: string[];
  responses: ResponseView[];
}

export interface DocsView {
  title: string;
  version: string;
  intro: string[];
  groups: { tag: string; operations: OperationView[] }[];
  schemas: { name: string; description: string; schema: SchemaView }[];
  errors: { code: string; status: number; when: string }[];
}

const COMPONENT = '#/components/schemas/';

/** "number ≥ -3.4e38", "string ≤ 64 chars", "ModelCard", "array of ModelCard", … */
export function typeOf(schema: JsonSchema | undefined): string {
  if (schema === undefined) return 'any';
  if (typeof schema.$ref === 'string') return schema.$ref.slice(COMPONENT.length);
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as JsonSchema[]).map(typeOf).join(' or ');
  if ('const' in schema) return JSON.stringify(schema.const);
  if (Array.isArray(schema.enum)) return (schema.enum as unknown[]).map((v) => JSON.stringify(v)).join(' | ');
  const type = typeof schema.type === 'string' ? schema.type : 'any';
  if (type === 'array') {
    if (Array.isArray(schema.prefixItems)) return `[${(schema.prefixItems as JsonSchema[]).map(typeOf).join(', ')}]`;
    return `array of ${typeOf(schema.items as JsonSchema | undefined)}`;
  }
  if (type === 'object' && typeof schema.additionalProperties === 'object' && schema.properties === undefined) {
    return `map of ${typeOf(schema.additionalProperties as JsonSchema)}`;
  }
  const limits: string[] = [];
  const n = (v: number): string => (Math.abs(v) >= 1e6 ? v.toExponential(1).replace('e+', 'e') : v.toLocaleString('en-US'));
  if (schema.format === 'binary' || schema.contentEncoding === 'binary') return 'file (bytes)';
  if (typeof schema.minimum === 'number') limits.push(`≥ ${n(schema.minimum)}`);
  if (typeof schema.maximum === 'number') limits.push(`≤ ${n(schema.maximum)}`);
  if (typeof schema.maxLength === 'number') limits.push(`at most ${n(schema.maxLength)} characters`);
  if (typeof schema.pattern === 'string') limits.push(`matching ${schema.pattern}`);
  return [type === 'integer' ? 'integer' : type, ...limits].join(' ');
}

export function schemaView(schema: JsonSchema | undefined): SchemaView {
  const ref = typeof schema?.$ref === 'string' ? schema.$ref.slice(COMPONENT.length) : null;
  const properties = (schema?.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema?.required ?? []) as string[]);
  return {
    type: typeOf(schema),
    ref,
    fields: Object.entries(properties).map(([name, p]) => ({
      name,
      type: typeOf(p),
      required: required.has(name),
      description: typeof p.description === 'string' ? p.description : '',
    })),
  };
}

const shellQuote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

/** Commands that work as written against `baseUrl`: one per way of sending the body. */
export function curlLines(baseUrl: string, method: string, path: string, op: Operation): string[] {
  const url = `${baseUrl}${path}`;
  const content = op.requestBody?.content;
  if (content === undefined) return [`curl -s ${url}`];
  const lines: string[] = [];
  for (const [media, { example }] of Object.entries(content)) {
    const fields = example !== null && typeof example === 'object' ? Object.entries(example as Record<string, unknown>) : [];
    const post = `curl -s -X ${method.toUpperCase()} ${url}`;
    if (media === 'application/json' && example !== undefined) lines.push(`${post} -H 'Content-Type: application/json' -d ${shellQuote(JSON.stringify(example))}`);
    else if (media === 'application/x-www-form-urlencoded' && fields.length > 0) lines.push(`${post} ${fields.map(([k, v]) => `--data-urlencode ${shellQuote(`${k}=${String(v)}`)}`).join(' ')}`);
    else if (media === 'multipart/form-data') {
      const names = Object.keys(((content[media]?.schema ?? {}) as { properties?: object }).properties ?? {});
      lines.push(`${post} ${names.map((n) => `-F ${n}=@cell.png`).join(' ')}`);
    } else if (media === 'image/png') lines.push(`${post} -H 'Content-Type: image/png' --data-binary @cell.png`);
  }
  return lines;
}

function responseView(status: string, r: Response): ResponseView {
  const json = r.content?.['application/json'];
  const schemas = json === undefined ? [] : Array.isArray(json.schema.anyOf) ? (json.schema.anyOf as JsonSchema[]) : [json.schema];
  const answer = schemas.find((s) => typeof s.$ref === 'string');
  const errorSchema = schemas.find((s) => s.$ref === undefined && (s.properties as { error?: unknown } | undefined)?.error !== undefined);
  const codes = ((errorSchema?.properties as { error: { properties: { code: { enum: string[] } } } } | undefined)?.error.properties.code.enum ?? []);
  return {
    status,
    description: r.description,
    media: Object.keys(r.content ?? {}),
    schema: answer !== undefined ? schemaView(answer) : json !== undefined && errorSchema === undefined ? schemaView(json.schema) : null,
    codes,
    headers: Object.keys(r.headers ?? {}),
    examples: Object.values(json?.examples ?? {}).map((e) => ({ summary: e.summary, json: JSON.stringify(e.value, null, 2) })),
  };
}

/** Paragraphs of the document's description. */
const paragraphs = (text: string): string[] => text.split(/\n\n+/).filter((p) => p.trim() !== '');

/** The error codes of components/schemas/Error, each described "<status>: <when>" (src/http/openapi.ts). */
function errorTable(doc: OpenApiDocument): DocsView['errors'] {
  const code = (doc.components.schemas.Error?.properties as { error?: { properties?: { code?: { anyOf?: JsonSchema[] } } } } | undefined)?.error
    ?.properties?.code?.anyOf;
  return (code ?? []).map((c) => {
    const [, status = '', when = ''] = /^(\d{3}): (.*)$/s.exec(String(c.description)) ?? [];
    return { code: String(c.const), status: Number(status), when };
  });
}

export function docsView(doc: OpenApiDocument, options: { baseUrl: string }): DocsView {
  const groups = new Map<string, OperationView[]>();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of ['get', 'post'] as const) {
      const op = item[method];
      if (op === undefined) continue;
      const tag = op.tags[0] ?? 'Other';
      const bodies = Object.entries(op.requestBody?.content ?? {}).map(([media, c]) => ({ media, schema: schemaView(c.schema) }));
      groups.set(tag, [
        ...(groups.get(tag) ?? []),
        {
          id: op.operationId,
          method: method.toUpperCase(),
          path,
          summary: op.summary,
          description: op.description ?? null,
          requestDescription: op.requestBody?.description ?? null,
          bodies,
          curl: curlLines(options.baseUrl, method, path, op),
          responses: Object.entries(op.responses).map(([status, r]) => responseView(status, r)),
        },
      ]);
    }
  }
  return {
    title: doc.info.title,
    version: doc.info.version,
    intro: paragraphs(doc.info.description),
    groups: [...groups].map(([tag, operations]) => ({ tag, operations })),
    schemas: Object.entries(doc.components.schemas).map(([name, s]) => ({
      name,
      description: typeof s.description === 'string' ? s.description : '',
      schema: schemaView(s),
    })),
    errors: errorTable(doc),
  };
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/** A description's text as HTML: escaped, with `code` and [links](/local) (local paths only). */
export function inlineHtml(text: string): string {
  return escapeHtml(text)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\[([^\]]+)\]\((\/[^)\s]*)\)/g, '<a href="$2">$1</a>');
}
