/**
 * Times one malaria model on one real image, as the server runs it: decoded by src/images.ts,
 * fed [1, H, W, 3] by the predictor's preprocess, the whole graph (in-graph resize included)
 * through the app's onnxruntime-node backend (one intra-op thread). Prints JSON:
 * {ms, p90, runs, width, height}.
 *
 * Usage: npx tsx training/bench-malaria.ts MODEL.onnx IMAGE [--runs 500]
 */
import fs from 'node:fs';
import { decodeToRgb } from '../src/images';
import { OnnxBackend } from '../src/inference/onnx';
import { MODEL_NAME, preprocess } from '../src/predictors/malaria';

async function main(): Promise<void> {
  const [model, imagePath] = process.argv.slice(2);
  if (model === undefined || imagePath === undefined) throw new Error('usage: bench-malaria.ts MODEL.onnx IMAGE [--runs N]');
  const i = process.argv.indexOf('--runs');
  const runs = i >= 0 ? Number(process.argv[i + 1]) : 500;
  const image = await decodeToRgb(fs.readFileSync(imagePath), { maxPixels: 25_000_000 });
  const backend = new OnnxBackend();
  await backend.load([{ name: MODEL_NAME, version: 'bench', path: model }]);
  const feeds = preprocess(image);
  for (let k = 0; k < 50; k++) await backend.infer(MODEL_NAME, feeds);
  const times: number[] = [];
  for (let k = 0; k < runs; k++) {
    const t = process.hrtime.bigint();
    await backend.infer(MODEL_NAME, feeds);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  await backend.close();
  times.sort((a, b) => a - b);
  const at = (q: number): number => times[Math.min(times.length - 1, Math.floor(times.length * q))] as number;
  console.log(JSON.stringify({ ms: at(0.5), p90: at(0.9), runs, width: image.width, height: image.height }));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
