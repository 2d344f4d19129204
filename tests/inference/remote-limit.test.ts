/**
 * RemoteBackend (src/inference/remote.ts) caps what it reads from a model tier (issue 22, finding
 * 9): an answer larger than maxResponseBytes (default MAX_RESPONSE_BYTES, 4 MB) fails the call
 * with a clear error and is not read further, announced (Content-Length) or streamed (chunked).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError } from '../../src/errors';
import { MAX_RESPONSE_BYTES } from '../../src/inference/oip-transport';
import { RemoteBackend } from '../../src/inference/remote';
import type { ModelSpec } from '../../src/inference/backend';

const MB = 1024 * 1024;
const SPEC: ModelSpec = {
  name: 'regression',
  version: '1',
  path: '',
  inputs: [{ name: 'x', dtype: 'float32', shape: [-1, 1] }],
  outputs: [{ name: 'y', dtype: 'float32', shape: [-1, 1] }],
};
const METADATA = { name: 'regression', versions: ['1'], platform: 'onnxruntime_onnx', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 1] }], outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }] };

interface Huge {
  url: string;
  /** Bytes of the huge answer written to the socket before the client went away. */
  written(): Promise<number>;
  close(): Promise<void>;
}

/**
 * A model tier whose answer to `hugePath` is `size` bytes of JSON-looking padding, written 1 MB at
 * a time with back-pressure, with Content-Length or chunked; everything else answers as a tier would.
 */
async function hugeTier(hugePath: RegExp, size: number, chunked: boolean): Promise<Huge> {
  let resolveWritten: (n: number) => void = () => undefined;
  const written = new Promise<number>((r) => (resolveWritten = r));
  const server = http.createServer((req, res) => {
    req.resume();
    const path = req.url ?? '';
    if (hugePath.test(path)) {
      res.writeHead(200, { 'content-type': 'application/json', ...(chunked ? {} : { 'content-length': size }) });
      const chunk = Buffer.alloc(MB, 0x20);
      let sent = 0;
      const pump = (): void => {
        while (sent < size && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      res.on('close', () => resolveWritten(Math.min(sent, size)));
      pump();
      return;
    }
    const json = (body: unknown): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (path === '/v2/health/ready' || path === '/v2/models/regression/ready') json({});
    else if (path === '/v2') json({ name: 'huge', version: '1', extensions: [] });
    else if (path === '/v2/models/regression') json(METADATA);
    else res.writeHead(404).end('{"error": "not found"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    written: () => written,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

const x = { x: { type: 'float32' as const, dims: [1, 1], data: Float32Array.of(5) } };

describe('RemoteBackend: answers larger than maxResponseBytes', () => {
  it.each([
    ['announced by Content-Length', false],
    ['streamed (chunked)', true],
  ])('an inference answer of 64 MB, %s: 503 model_server_error, the error logged with the limit, the answer not read to its end', async (_name, chunked) => {
    const tier = await hugeTier(/\/infer$/, 64 * MB, chunked);
    const errors: string[] = [];
    const log = { info: () => undefined, warn: () => undefined, error: (_o: unknown, msg?: string) => void errors.push(String(msg)) };
    const backend = new RemoteBackend({ url: tier.url, timeoutMs: 10_000, retries: 0, log });
    try {
      await backend.load([SPEC]);
      const err = await backend.infer('regression', x).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).kind).toBe('unavailable');
      expect((err as AppError).code).toBe('model_server_error');
      expect(errors.join('\n')).toMatch(new RegExp(`larger than this app reads \\(${MAX_RESPONSE_BYTES} bytes\\)`));
      expect(await tier.written()).toBeLessThan(32 * MB);
    } finally {
      await backend.close();
      await tier.close();
    }
  });

  it('metadata larger than the limit: the start fails with a message naming the limit', async () => {
    const tier = await hugeTier(/^\/v2\/models\/regression$/, 8 * MB, true);
    const backend = new RemoteBackend({ url: tier.url, timeoutMs: 10_000, retries: 0, maxResponseBytes: MB });
    try {
      await expect(backend.load([SPEC])).rejects.toThrow(`the model server's answer to GET /v2/models/regression is larger than this app reads (${MB} bytes)`);
      expect(await tier.written()).toBeLessThan(8 * MB);
    } finally {
      await backend.close();
      await tier.close();
    }
  });

  it('an answer within the limit is read as before', async () => {
    const tier = await hugeTier(/^\/never$/, 0, false);
    const backend = new RemoteBackend({ url: tier.url, timeoutMs: 10_000, retries: 0, maxResponseBytes: 4096 });
    try {
      await backend.load([SPEC]);
      expect(await backend.ready()).toBe(true);
    } finally {
      await backend.close();
      await tier.close();
    }
  });
});
