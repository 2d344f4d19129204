/**
 * The API describes itself: GET /openapi.json (the OpenAPI 3.1 document, src/http/openapi.ts)
 * and GET /docs (the same document as a page for people, server-rendered, no script). Once the
 * models are loaded, the document carries real answers as examples: each endpoint's example
 * inputs, run through its own code (src/http/endpoint.ts), once per set of model versions. The
 * model tier (src/oip/server.ts) serves its own document the same way (openApiReference).
 */
import { z } from 'zod';
import { type Config, packageInfo } from '../config';
import type { ModelDefinition } from '../models/model';
import type { Registry } from '../predictors/registry';
import { type Endpoint, type Example, jsonEndpoint } from './endpoint';
import { type DocumentInfo, type DocumentOptions, METRICS_TOKEN_SCHEME, type OpenApiDocument, openApiDocument } from './openapi';
import { docsView, inlineHtml } from './docs';
import type { PageRenderer } from './page';
import { capitalised, countInWords } from './table';
import { baseUrl } from './view-request';

export interface ApiReference {
  /** GET /openapi.json and GET /docs, themselves documented. */
  endpoints: Endpoint[];
  /** The document without examples: what the routes accept and answer. Runs no model. */
  describe(): OpenApiDocument;
  /** The document as served: with real answers as examples once the models are loaded. */
  document(): Promise<OpenApiDocument>;
}

const OpenApiSchema = z
  .looseObject({ openapi: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()) })
  .meta({ id: 'OpenApiDocument', description: 'This document.' });

/** What a model is, as this document names it: its definition's `about.apiWhat` if it gives one, else `about.what`. */
function apiWhat(model: ModelDefinition): string {
  return model.about.apiWhat ?? model.about.what;
}

function info(config: Config, table: readonly ModelDefinition[]): DocumentInfo {
  const mb = config.maxUploadBytes / (1024 * 1024);
  return {
    title: 'ml-forms',
    version: packageInfo().version,
    description: [
      `${capitalised(countInWords(table.length))} machine-learning models (${table.map(apiWhat).join(', ')}) behind a JSON API.`,
      'Every answer is JSON. Errors, whatever the status, are `{"error":{"code":"…","message":"…"}}`: the code is stable, the message is for a person. A 503 carries `Retry-After`.',
      `Limits: uploads up to ${mb} MB and ${Math.round(config.maxImagePixels / 1e6)} megapixels; reviews up to ${config.maxReviewChars.toLocaleString('en-US')} characters; \`x\` a finite number.`,
      'A page for people: [/docs](/docs).',
    ].join('\n\n'),
  };
}

/** What an app's reference is made of, besides its endpoints. */
export interface ReferenceSpec {
  info: DocumentInfo;
  options?: Omit<DocumentOptions, 'examples'>;
  /**
   * What the examples depend on (the models and versions loaded), or null while they cannot run
   * (the models are loading): they are run once per key.
   */
  examplesKey(): string | null;
  /** The errors and security of GET /openapi.json itself (the model tier's requires its token). */
  self?: Pick<Endpoint, 'errors' | 'security'>;
}

/**
 * The reference of an app documented by `documented`: its document, and GET /openapi.json serving
 * it, plus what `more` draws from the document (the web app's /docs page).
 */
export function openApiReference(
  documented: readonly Endpoint[],
  spec: ReferenceSpec,
  more: (document: () => Promise<OpenApiDocument>) => Endpoint[] = () => [],
): ApiReference {
  /** Every endpoint of the app, these included: what the document describes. */
  let all: Endpoint[] = [];
  // Built once (and once per examples key below): converting every schema takes ~20 ms of the
  // event loop, too much to spend on each GET /openapi.json or /docs; the endpoints never change.
  let described: OpenApiDocument | null = null;
  const describe = (): OpenApiDocument => (described ??= openApiDocument(all, spec.info, spec.options));
  let examples: { key: string; document: Promise<OpenApiDocument> } | null = null;
  const runExamples = async (key: string): Promise<Map<string, Example[]>> => {
    const found = new Map<string, Example[]>();
    for (const e of all) if (e.examples !== undefined) found.set(e.operationId, await e.examples());
    // An overloaded or restarting server answers 5xx: not examples worth keeping; try again next time.
    if ([...found.values()].flat().some((e) => e.status >= 500) && examples?.key === key) examples = null;
    return found;
  };
  const document = async (): Promise<OpenApiDocument> => {
    const key = spec.examplesKey();
    if (key === null) return describe();
    if (examples?.key !== key) {
      const found = runExamples(key);
      examples = { key, document: found.then((e) => openApiDocument(all, spec.info, { ...spec.options, examples: e })) };
    }
    return examples.document;
  };

  const endpoints: Endpoint[] = [
    jsonEndpoint({
      method: 'get',
      path: '/openapi.json',
      operationId: 'openApiDocument',
      tag: 'Reference',
      summary: 'This OpenAPI 3.1 document',
      response: { description: 'The document, with real answers as examples once the models are loaded.', schema: OpenApiSchema },
      errors: spec.self?.errors ?? [],
      ...(spec.self?.security === undefined ? {} : { security: spec.self.security }),
      answer: document,
    }),
  ];
  endpoints.push(...more(document));
  all = [...documented, ...endpoints];
  return { endpoints, describe, document };
}

/** The JSON API's reference: /openapi.json and /docs, the page for people. */
export function apiReference(documented: readonly Endpoint[], deps: { config: Config; registry: Registry; page: PageRenderer }): ApiReference {
  const { registry, page } = deps;
  const spec: ReferenceSpec = {
    info: info(deps.config, registry.definitions),
    options: { securitySchemes: METRICS_TOKEN_SCHEME },
    examplesKey: () => (registry.ready ? registry.cards().map((c) => `${c.name}@${c.version}`).join(' ') : null),
  };
  return openApiReference(documented, spec, (document) => [
    {
      method: 'get',
      path: '/docs',
      operationId: 'docs',
      tag: 'Reference',
      summary: 'This document as a page for people',
      responses: { 200: { description: 'The API reference page.', media: ['text/html'] } },
      errors: [],
      handlers: [
        async (req, res) => {
          const view = docsView(await document(), { baseUrl: baseUrl(req) });
          res.type('html').send(page.render('docs', { docs: view, inline: inlineHtml }));
        },
      ],
    },
  ]);
}
