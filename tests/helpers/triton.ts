/**
 * A stand-in for Triton Inference Server's HTTP/REST endpoint, answering as Triton's documentation
 * and source say it does (server/docs/protocol/, src/http_server.cc), for testing the client
 * (src/inference/remote.ts) against more than our own server:
 *  - health: 200 with an empty body when live/ready, 400 (empty) when not;
 *  - server metadata: {"name":"triton","version":…,"extensions":[…, "binary_tensor_data", …]};
 *  - model metadata from config.pbtxt as Triton derives it: platform "onnxruntime_onnx",
 *    versions as strings, the batch dimension as -1 before the config's dims;
 *  - errors as {"error": "…"}: an unknown model is 404 "Request for unknown model: 'x' is not
 *    found"; a wrong shape is 400 with Triton's "unexpected shape for input …" message;
 *  - inference: model_name, model_version, outputs; binary outputs when asked
 *    (binary_data_output / binary_data), with Inference-Header-Content-Length.
 * The output values are recorded answers, one per model, not computed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { type ModelMetadata, readMessage } from '../../src/oip/protocol';
import { modelMetadata, readModelConfig } from '../../src/oip/repository';

const MODELS_DIR = path.join(__dirname, '..', '..', 'models');

export const TRITON_SERVER_METADATA = {
  name: 'triton',
  version: '2.52.0',
  extensions: [
    'classification',
    'sequence',
    'model_repository',
    'model_repository(unload_dependents)',
    'schedule_policy',
    'model_configuration',
    'system_shared_memory',
    'cuda_shared_memory',
    'binary_tensor_data',
    'parameters',
    'statistics',
    'trace',
    'logging',
  ],
};

/** Recorded outputs (batch of one) per model. */
export const RECORDED_OUTPUTS: Record<string, { name: string; datatype: string; shape: number[]; data: number[] }> = {
  regression: { name: 'y', datatype: 'FP32', shape: [1, 1], data: [18.782899856567383] },
  malaria: { name: 'probabilities', datatype: 'FP32', shape: [1, 2], data: [0.9512000679969788, 0.04879993200302124] },
  sentiment: { name: 'probabilities', datatype: 'FP32', shape: [1, 2], data: [0.012700021266937256, 0.9872999787330627] },
};

export interface Received {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The JSON part of an inference request, and the byte length of what followed it. */
  json?: Record<string, unknown>;
  binaryBytes?: number;
}

export interface FakeTriton {
  url: string;
  port: number;
  received: Received[];
  /** /v2/health/ready and each model's ready answer 200 (else 400). */
  ready: boolean;
  /** Answers to give to the next inference requests instead of the recorded ones. */
  nextInfer: { status: number; body: string; headers?: Record<string, string> }[];
  /** Never answer inference requests. */
  hang: boolean;
  /** The version inference answers name. */
  version: string;
  /** Metadata overrides by model (e.g. a changed datatype). */
  metadata: Record<string, ModelMetadata>;
  /** Models this server does not have. */
  missing: Set<string>;
  serverMetadata: { name: string; version: string; extensions: string[] };
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status, { 'content-length': 0 }).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

export async function startFakeTriton(port = 0): Promise<FakeTriton> {
  const fake: FakeTriton = {
    url: '',
    port: 0,
    received: [],
    ready: true,
    nextInfer: [],
    hang: false,
    version: '1',
    metadata: {},
    missing: new Set(),
    serverMetadata: TRITON_SERVER_METADATA,
    close: async () => undefined,
  };
  const metadataOf = (name: string): ModelMetadata | null => {
    if (fake.metadata[name] !== undefined) return fake.metadata[name] as ModelMetadata;
    if (RECORDED_OUTPUTS[name] === undefined || fake.missing.has(name)) return null;
    return modelMetadata(readModelConfig(MODELS_DIR, name), [fake.version]);
  };
  const unknown = (res: http.ServerResponse, name: string): void => send(res, 404, { error: `Request for unknown model: '${name}' is not found` });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const received: Received = { method: req.method ?? '', path: url.pathname, headers: req.headers };
      fake.received.push(received);
      const p = url.pathname;
      if (p === '/v2/health/live') return send(res, 200);
      if (p === '/v2/health/ready') return send(res, fake.ready ? 200 : 400);
      if (p === '/v2' && req.method === 'GET') return send(res, 200, fake.serverMetadata);
      const m = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?$/.exec(p);
      if (m === null) return send(res, 404, { error: 'Not Found' });
      const name = decodeURIComponent(m[1] as string);
      const meta = metadataOf(name);
      if (meta === null) return unknown(res, name);
      if (m[2] !== undefined && m[2] !== fake.version) return send(res, 404, { error: `Request for unknown model: '${name}' version ${m[2]} is not found` });
      if (m[3] === '/ready') return send(res, fake.ready ? 200 : 400);
      if (m[3] === undefined) return send(res, 200, { ...meta, versions: [fake.version] });
      // Inference.
      const body = Buffer.concat(chunks);
      const headerLength = req.headers['inference-header-content-length'] as string | undefined;
      const message = readMessage(body, headerLength);
      received.json = message.json as Record<string, unknown>;
      received.binaryBytes = message.binary.length;
      if (fake.hang) return;
      const next = fake.nextInfer.shift();
      if (next !== undefined) {
        res.writeHead(next.status, { 'content-type': 'application/json', ...next.headers }).end(next.body);
        return;
      }
      for (const input of (received.json.inputs as { name: string; shape: number[] }[]) ?? []) {
        const declared = meta.inputs.find((t) => t.name === input.name);
        if (declared === undefined) return send(res, 400, { error: `unexpected inference input '${input.name}' for model '${name}'` });
        const fits = input.shape.length === declared.shape.length && input.shape.every((d, i) => declared.shape[i] === -1 || declared.shape[i] === d);
        if (!fits) {
          return send(res, 400, {
            error: `[request id: <id_unknown>] unexpected shape for input '${input.name}' for model '${name}'. Expected [${declared.shape.join(',')}], got [${input.shape.join(',')}]. NOTE: Setting a non-zero max_batch_size in the model config requires a batch dimension to be prepended to each input shape. If you want to specify the full shape including the batch dim in your input dims config, try setting max_batch_size to zero. See the model configuration docs for more info on max_batch_size.`,
          });
        }
      }
      const recorded = RECORDED_OUTPUTS[name] as (typeof RECORDED_OUTPUTS)[string];
      const binaryOut = (received.json.parameters as { binary_data_output?: boolean } | undefined)?.binary_data_output === true;
      if (!binaryOut) {
        return send(res, 200, { model_name: name, model_version: fake.version, outputs: [recorded] });
      }
      const bytes = Buffer.from(Float32Array.from(recorded.data).buffer);
      const head = Buffer.from(
        JSON.stringify({
          model_name: name,
          model_version: fake.version,
          outputs: [{ name: recorded.name, datatype: recorded.datatype, shape: recorded.shape, parameters: { binary_data_size: bytes.length } }],
        }),
      );
      res
        .writeHead(200, { 'content-type': 'application/octet-stream', 'inference-header-content-length': head.length, 'content-length': head.length + bytes.length })
        .end(Buffer.concat([head, bytes]));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  fake.port = (server.address() as AddressInfo).port;
  fake.url = `http://127.0.0.1:${fake.port}`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake;
}
