/**
 * Run by tests/inference/pool.test.ts in a child process (`node --import tsx tests/inference/pool-smoke.ts`): the real
 * worker.ts with real onnxruntime sessions. In a separate process because onnxruntime's native
 * binding, once initialised from a worker thread, hands later jest sandboxes typed arrays from the
 * wrong realm, which would break other test files sharing the jest worker process.
 * Prints one JSON line.
 */
import path from 'node:path';
import { output, tensor } from '../../src/inference/backend';
import { WorkerPool } from '../../src/inference/pool';

async function main(): Promise<void> {
  const models = [{ name: 'regression', version: '1', path: path.join(__dirname, '..', '..', 'models', 'regression', '1', 'model.onnx') }];
  const pool = new WorkerPool({ workers: 2, queueLimit: 8 });
  await pool.load(models);
  const ys = await Promise.all(
    [1, 2, 3, 4, 5].map(async (x) => output(await pool.infer('regression', { x: tensor('float32', Float32Array.of(x), [1, 1]) }), 'y', 'float32').data[0]),
  );
  await pool.close();
  console.log(JSON.stringify({ description: pool.description, ys }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
