/**
 * The in-process image limit that image predictions over HTTP are compared with: the plainest
 * pipeline, in one process, no HTTP: libvips decodes the file to RGB (and resizes it to the model's
 * input size, if the model's input has a fixed size; a model that resizes inside its graph gets the
 * image at its own size), then one onnxruntime run. `concurrency` predictions in flight: decoding
 * runs in libvips' threads, so two or more in flight use both cores. libvips and onnxruntime are
 * set as the app sets them (one thread per operation, no operation cache, no ORT arena).
 *
 *   node --import tsx bench/image-limit.ts <image file or a file listing image files> <concurrency> <seconds>
 *
 * A file ending in .list holds one image path a line: the loop cycles through them (bench:batch
 * measures the limit over the very images the batch command reads). Prints {"perSecond": …,
 * "cpuMsPerImage": …} on stdout. `npm run bench` and `npm run bench:batch` run it with 1, 2 and 4
 * in flight and take the best (bench/images.ts, imageLimit() and bestImageLimit()).
 */
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { modelSpec, readCard } from '../src/predictors/registry';
import { ROOT } from './lib';

async function main(): Promise<void> {
  const [file, concurrencyArg = '1', secondsArg = '5'] = process.argv.slice(2);
  if (file === undefined) throw new Error('usage: image-limit.ts <image file | file.list> <concurrency> <seconds>');
  const files = file.endsWith('.list')
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [file];
  const images = files.map((f) => fs.readFileSync(f));
  let next = 0;
  const modelsDir = path.resolve(process.env.MODELS_DIR ?? path.join(ROOT, 'models'));
  const card = readCard(modelsDir, 'malaria');
  const input = card.inputs[0];
  if (input === undefined) throw new Error('the malaria card names no input');
  const [, height = -1, width = -1] = input.shape;
  const fixed = height > 0 && width > 0;

  sharp.cache(false);
  sharp.concurrency(1);
  const session = await ort.InferenceSession.create(modelSpec(modelsDir, card).path, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: false,
    enableMemPattern: false,
  });
  // The graph's explanation switch (issue 25), off as the app predicts: a graph input like any other.
  const off: Record<string, ort.Tensor> = session.inputNames.includes('explain') ? { explain: new ort.Tensor('bool', Uint8Array.of(0), [1]) } : {};
  const predict = async (): Promise<void> => {
    const image = images[next++ % images.length] as Buffer;
    const pipeline = fixed ? sharp(image).resize(width, height) : sharp(image);
    const { data, info } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
    await session.run({ [input.name]: new ort.Tensor('uint8', data, [1, info.height, info.width, 3]), ...off });
  };

  for (let i = 0; i < 50; i++) await predict(); // warm-up
  const seconds = Number(secondsArg);
  let done = 0;
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: Number(concurrencyArg) }, async () => {
      while (performance.now() < end) {
        await predict();
        done++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await session.release();
  console.log(JSON.stringify({ perSecond: done / elapsed, cpuMsPerImage: (cpu.user + cpu.system) / 1000 / done }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
