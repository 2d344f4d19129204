/**
 * Runs every cell image through the serving path's own code for train_malaria.py:
 * src/images.ts decodes it (at its own size) and an ONNX graph runs in onnxruntime-node through the
 * app's backend, fed exactly as the malaria predictor feeds it ([1, H, W, 3] uint8).
 *
 *   --graph PRE.onnx   the final model's preprocessing nodes (resize + padding), exported alone by
 *                      training/malaria_graph.py; writes the S×S pixels PyTorch trains on:
 *                        <out>.u8    N × 3 × S × S uint8 (NCHW, the graph's `pixels`)
 *                        <out>.json  {size, dataRoot, graphSha256, validationDigest,
 *                                     items: [{id, label, split, file, width, height}]}
 *   --score MODEL.onnx the whole model; writes its `probabilities` for the validation images:
 *                        <out>.f32   n × 2 float32, validation items in the order of <out>.json's items
 *                        <out>.json  {dataRoot, modelSha256, validationDigest, items: [{id, label}]}
 *
 * Usage: npx tsx training/prepare-malaria.ts (--graph F --size S | --score F) --out BASE [--data ../shared/data]
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { decodeToRgb } from '../src/images';
import { OnnxBackend } from '../src/inference/onnx';
import { MODEL_NAME, preprocess } from '../src/models/malaria/predictor';
import { arg, dataDir } from './args';
import { forEach } from './for-each';
import { type CellImageFile, findCellImages } from './malaria-data';
import { idsDigest, validationIds } from './split';

const MAX_PIXELS = 25_000_000;

const sha256 = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/**
 * Decodes each file (a few in flight: sharp works on libuv's threads) and hands the graph's
 * output for it to `sink`, in any order. session.run() is synchronous once started, so the
 * inference calls themselves run one at a time on this thread.
 */
async function runGraph(
  graph: string,
  output: string,
  files: CellImageFile[],
  sink: (index: number, data: Float32Array | Uint8Array, width: number, height: number) => void,
): Promise<void> {
  const backend = new OnnxBackend();
  await backend.load([{ name: MODEL_NAME, version: 'training', path: graph }]);
  await forEach(
    files,
    4,
    async (file, i) => {
      const image = await decodeToRgb(fs.readFileSync(file.file), { maxPixels: MAX_PIXELS });
      const result = (await backend.infer(MODEL_NAME, preprocess(image)))[output];
      if (result === undefined || (result.type !== 'uint8' && result.type !== 'float32')) {
        throw new Error(`${graph}: no ${output} output`);
      }
      sink(i, result.data as Float32Array | Uint8Array, image.width, image.height);
    },
    5000,
  );
  await backend.close();
}

async function main(): Promise<void> {
  const dataRoot = dataDir();
  const out = arg('out');
  const graph = arg('graph');
  const score = arg('score');
  if (out === undefined || (graph === undefined) === (score === undefined)) {
    throw new Error('usage: prepare-malaria.ts (--graph PRE.onnx --size S | --score MODEL.onnx) --out BASE [--data DIR]');
  }
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  const files = findCellImages(dataRoot);
  const held = validationIds(files);
  const started = Date.now();

  if (graph !== undefined) {
    const size = Number(arg('size'));
    const stride = 3 * size * size;
    const pixels = Buffer.alloc(files.length * stride);
    const sizes: [number, number][] = [];
    await runGraph(graph, 'pixels', files, (i, data, width, height) => {
      if (data.length !== stride || !(data instanceof Uint8Array)) throw new Error(`${graph}: pixels are not uint8 3×${size}×${size}`);
      pixels.set(data, i * stride);
      sizes[i] = [width, height];
    });
    const items = files.map((f, i) => ({
      id: f.id,
      label: f.label,
      split: held.has(f.id) ? 'validation' : 'train',
      file: f.file,
      width: sizes[i]?.[0],
      height: sizes[i]?.[1],
    }));
    fs.writeFileSync(`${out}.u8`, pixels);
    fs.writeFileSync(
      `${out}.json`,
      JSON.stringify({ size, dataRoot, graphSha256: sha256(graph), validationDigest: idsDigest(held), items }),
    );
    console.log(`prepared ${files.length} images (${held.size} validation) at ${size}×${size} in ${((Date.now() - started) / 1000).toFixed(1)} s → ${out}.u8`);
  } else if (score !== undefined) {
    const validation = files.filter((f) => held.has(f.id));
    const probabilities = new Float32Array(validation.length * 2);
    await runGraph(score, 'probabilities', validation, (i, data) => {
      if (data.length !== 2 || !(data instanceof Float32Array)) throw new Error(`${score}: probabilities are not float32 [1, 2]`);
      probabilities.set(data, i * 2);
    });
    fs.writeFileSync(`${out}.f32`, probabilities);
    fs.writeFileSync(
      `${out}.json`,
      JSON.stringify({
        dataRoot,
        modelSha256: sha256(score),
        validationDigest: idsDigest(held),
        items: validation.map((f) => ({ id: f.id, label: f.label })),
      }),
    );
    console.log(`scored ${validation.length} validation images in ${((Date.now() - started) / 1000).toFixed(1)} s → ${out}.f32`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
