/**
 * Times one malaria model on one real image, as the server runs it: decoded by src/images.ts,
 * fed [1, H, W, 3] by the predictor's preprocess, the whole graph (in-graph resize included)
 * through the app's onnxruntime-node backend (one intra-op thread). Prints JSON:
 * {ms, p90, cpuMs, runs, width, height}: wall-clock median and 90th percentile, and the median CPU
 * time of one run (user + system of this process: onnxruntime computes on the calling thread, so
 * on a shared machine it is the cost of the work, without the time spent waiting for a core).
 *
 * Usage: npx tsx training/bench-malaria.ts MODEL.onnx IMAGE [--runs 500]
 */
import fs from 'node:fs';
import { decodeToRgb } from '../src/images';
import { OnnxBackend } from '../src/inference/onnx';
import { quantile } from '../bench/stats';
import { MODEL_NAME, preprocess } from '../src/models/malaria/predictor';

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
  const cpu: number[] = [];
  for (let k = 0; k < runs; k++) {
    const c = process.cpuUsage();
    const t = process.hrtime.bigint();
    await backend.infer(MODEL_NAME, feeds);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    const used = process.cpuUsage(c);
    cpu.push((used.user + used.system) / 1e3);
  }
  await backend.close();
  console.log(
    JSON.stringify({ ms: quantile(times), p90: quantile(times, 0.9), cpuMs: quantile(cpu), runs, width: image.width, height: image.height }),
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
