/**
 * What the model tier's OpenAPI document (/openapi.json) says beside each endpoint's own entry: the
 * error codes each kind of endpoint can answer, the security schemes, the binary-data header, the
 * example inference requests (run through the real endpoint for their answers) and the document's
 * description with the body limits of this configuration.
 */
import { z } from 'zod';
import type { Config } from '../config';
import { type DocumentInfo, METRICS_TOKEN_SCHEME } from '../http/openapi';
import type { ModelDefinition } from '../models/model';
import { megabytes } from '../units';

// The codes each endpoint can answer (ERRORS, src/errors.ts), for its document.
export const MODEL_ERRORS = ['unauthorized', 'not_found', 'loading'] as const;
export const BODY_ERRORS = ['body_too_large', 'unsupported_encoding', 'invalid_body', 'overloaded'] as const;
export const TENSOR_ERRORS = [
  'invalid_header_length',
  'invalid_json',
  'invalid_request',
  'invalid_datatype',
  'invalid_shape',
  'invalid_data',
  'invalid_binary_data',
  'shape_mismatch',
  'unknown_input',
  'duplicate_input',
  'missing_input',
  'wrong_datatype',
  'wrong_shape',
  'batch_too_large',
  'unknown_output',
] as const;

export const TOKEN = ['inferenceToken'];
export const SECURITY_SCHEMES = {
  ...METRICS_TOKEN_SCHEME,
  inferenceToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'The INFERENCE_TOKEN, when the model tier sets one: every endpoint but the two health checks then requires it.',
  },
};

export const HEADER_LENGTH = {
  'Inference-Header-Content-Length': {
    description: "Binary tensor data (Triton's extension): the length in bytes of the JSON part at the start of the body; the tensors' bytes follow it.",
    schema: z.int().min(0),
  },
};

/** An inference request: the example of the infer body's schema, and the body sent to "an unknown model". */
export const EXAMPLE_REQUEST = { id: 'example-1', inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 1], data: [5, -1] }] };

/**
 * The infer endpoint's examples, good and bad: each model of `table` that is `served` gives its own
 * (its definition's `oipExamples`), the image models' last, then one for an unknown model.
 */
export function inferExamples(served: readonly string[], table: readonly ModelDefinition[]): Record<string, { name: string; body: Buffer }> {
  const request = (name: string, body: unknown): { name: string; body: Buffer } => ({ name, body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)) });
  const inputs: Record<string, { name: string; body: Buffer }> = {};
  const has = new Set(served);
  const images = (m: ModelDefinition): number => (m.input.kind === 'image' ? 1 : 0);
  for (const model of [...table].sort((a, b) => images(a) - images(b))) {
    if (!has.has(model.name) || model.oipExamples === undefined) continue;
    for (const [title, body] of Object.entries(model.oipExamples())) inputs[title] = request(model.name, body);
  }
  inputs['an unknown model'] = request('weather', EXAMPLE_REQUEST);
  return inputs;
}

/** The document's title and description: what the tier serves, its error shape and its body limits. */
export function info(config: Pick<Config, 'modelMaxJsonBytes' | 'modelMaxBodyBytes' | 'modelBodyBudgetBytes'>, version: string): DocumentInfo {
  return {
    title: 'ml-forms model tier',
    version,
    description: [
      "The Open Inference Protocol v2 (the KServe v2 protocol, Triton's HTTP/REST API) over the models of this server's repository: health, server and model metadata, inference with JSON tensors or Triton's binary tensor data, Triton's model-repository extension, and each version's model card (this server's extension).",
      'Errors, whatever the status, are `{"error": "…"}`, as the protocol says. A 503 carries `Retry-After`. With INFERENCE_TOKEN set, every endpoint but the two health checks requires `Authorization: Bearer <token>`.',
      `Limits: a JSON request body (or the JSON header before binary tensor data) of at most ${megabytes(config.modelMaxJsonBytes)} MB (MODEL_MAX_JSON_MB); a body with binary tensor data of at most ${megabytes(config.modelMaxBodyBytes)} MB (MODEL_MAX_BODY_MB); bodies held at once, at most ${megabytes(config.modelBodyBudgetBytes)} MB (MODEL_BODY_BUDGET_MB: beyond it, 503 with Retry-After); a batch of 1 to the model's max_batch_size along the first dimension.`,
    ].join('\n\n'),
  };
}
