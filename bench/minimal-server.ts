/**
 * The limit for an image service (issue 24, must hold 2): the plainest HTTP server a user would
 * write around the same model, with the libraries' default settings. node:http in one process per
 * core (node:cluster), busboy for the upload, sharp decoding the file at its own size to RGB, one
 * onnxruntime-node run of the malaria graph (the resize is inside it), a small JSON answer. No
 * validation, limits, logging, metrics, queue or security headers: what an HTTP service costs at all.
 *
 *   node --import tsx bench/minimal-server.ts <port> [tuned]
 *
 * `tuned`: the same code with the app's settings instead of the defaults (one onnxruntime thread per
 * session, run sequentially; one libvips thread per operation, its cache off), for reference: with
 * the defaults each process's onnxruntime keeps a thread per core of its own, which spins.
 *
 * POST /  multipart/form-data with one file field → {"label": <index>, "confidence": <0..1>}
 * GET  /  200 once this process's session is loaded (readiness for bench/servers.ts)
 */
import cluster from 'node:cluster';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import busboy from 'busboy';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { modelSpec, readCard } from '../src/predictors/registry';

const port = Number(process.argv[2] ?? '0');
const tuned = process.argv[3] === 'tuned';

async function serve(): Promise<void> {
  const modelsDir = path.resolve(process.env.MODELS_DIR ?? path.join(__dirname, '..', 'models'));
  if (tuned) {
    sharp.cache(false);
    sharp.concurrency(1);
  }
  const session = await ort.InferenceSession.create(
    modelSpec(modelsDir, readCard(modelsDir, 'malaria')).path,
    tuned ? { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' } : {},
  );
  const [input] = session.inputNames;
  const [output] = session.outputNames;
  if (input === undefined || output === undefined) throw new Error('the malaria graph names no input or output');
  // The graph's explanation switch (issue 25), off: an input like any other.
  const extra: Record<string, ort.Tensor> = session.inputNames.includes('explain') ? { explain: new ort.Tensor('bool', Uint8Array.of(0), [1]) } : {};

  const predict = async (file: Buffer): Promise<{ label: number; confidence: number }> => {
    const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const result = await session.run({ [input]: new ort.Tensor('uint8', data, [1, info.height, info.width, 3]), ...extra });
    const scores = result[output]?.data as Float32Array;
    let label = 0;
    for (let i = 1; i < scores.length; i++) if ((scores[i] as number) > (scores[label] as number)) label = i;
    return { label, confidence: scores[label] as number };
  };

  http
    .createServer((req, res) => {
      if (req.method !== 'POST') {
        res.end('ready');
        return;
      }
      const chunks: Buffer[] = [];
      const parser = busboy({ headers: req.headers });
      parser.on('file', (_name, stream) => stream.on('data', (c: Buffer) => chunks.push(c)));
      parser.on('close', () => {
        predict(Buffer.concat(chunks)).then(
          (answer) => {
            const body = JSON.stringify(answer);
            res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
            res.end(body);
          },
          () => {
            res.writeHead(400);
            res.end();
          },
        );
      });
      req.pipe(parser);
    })
    .listen(port, '127.0.0.1');
}

if (cluster.isPrimary) {
  for (let i = 0; i < os.availableParallelism(); i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
    process.exit(0);
  });
} else {
  void serve();
}
