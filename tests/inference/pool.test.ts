/**
 * WorkerPool: the inference backend that runs onnxruntime sessions in worker threads.
 * The queueing, limits, replicas and crash recovery are tested with a stand-in worker that speaks
 * worker.ts's messages (y = 3.5x + 1.5 after a short delay); the real worker with real sessions
 * runs in a child process (see tests/inference/pool-smoke.ts for why).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { AppError } from '../../src/errors';
import { type ModelSpec, type NamedTensors, output, tensor } from '../../src/inference/backend';
import { OnnxBackend } from '../../src/inference/onnx';
import { type PoolOptions, WorkerPool, workerScript } from '../../src/inference/pool';

const MODELS: ModelSpec[] = [{ name: 'regression', version: '1', path: '/models/regression/1/model.onnx' }];
const x = (v: number): NamedTensors => ({ x: tensor('float32', Float32Array.of(v), [1, 1]) });
const y = (out: NamedTensors): number => output(out, 'y', 'float32').data[0] as number;

/** Answers like worker.ts; "x = -1" fails the job, "x = -2" kills the thread. */
const STAND_IN = {
  eval: true,
  script: `
    const { parentPort, workerData } = require('node:worker_threads');
    parentPort.on('message', (job) => {
      const v = job.inputs.x.data[0];
      if (v === -2) process.exit(3);
      setTimeout(() => {
        if (v === -1) return parentPort.postMessage({ type: 'error', id: job.id, message: 'bad input' });
        const out = { y: { type: 'float32', dims: [1, 1], data: Float32Array.of(3.5 * v + 1.5) } };
        parentPort.postMessage({ type: 'result', id: job.id, outputs: out, runMs: 20 });
      }, 20);
    });
    parentPort.postMessage({ type: 'ready', models: workerData.models.map((m) => m.name) });
  `,
};

describe('WorkerPool', () => {
  let pool: WorkerPool | null = null;
  const make = async (options: Partial<PoolOptions> = {}): Promise<WorkerPool> => {
    pool = new WorkerPool({ workers: 1, queueLimit: 8, workerScript: STAND_IN, ...options });
    await pool.load(MODELS);
    return pool;
  };
  afterEach(async () => {
    await pool?.close();
    pool = null;
  });

  describe('with the real worker and onnxruntime (child process)', () => {
    it('answers y ≈ 3.5x + 1.5 from two worker threads', async () => {
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(__dirname, 'pool-smoke.ts')], {
        cwd: path.join(__dirname, '..', '..'),
        timeout: 30_000,
      });
      const result = JSON.parse(stdout.trim().split('\n').pop() as string) as { description: string; ys: number[] };
      expect(result.description).toBe('onnxruntime-node (2 worker threads)');
      result.ys.forEach((v, i) => expect(v).toBeCloseTo(3.5 * (i + 1) + 1.5, 0));
    });
  });

  describe('when jobs arrive faster than the workers answer', () => {
    it('spreads them over idle workers, then queues them in order', async () => {
      const p = await make({ workers: 2 });
      const results = [1, 2, 3, 4, 5].map((v) => p.infer('regression', x(v)));
      expect(p.busyWorkers()).toBe(2);
      expect(p.queueDepth()).toEqual({ regression: 3 });
      expect((await Promise.all(results)).map(y)).toEqual([5, 8.5, 12, 15.5, 19]);
      expect(p.queueDepth()).toEqual({ regression: 0 });
    });

    it('answers 503 overloaded with Retry-After once queueLimit jobs are waiting', async () => {
      const p = await make({ queueLimit: 1, retryAfterSeconds: 3 });
      const running = p.infer('regression', x(1));
      const queued = p.infer('regression', x(2));
      const rejected = p.infer('regression', x(3));
      await expect(rejected).rejects.toMatchObject({ kind: 'unavailable', code: 'overloaded', retryAfter: 3 });
      await expect(rejected).rejects.toBeInstanceOf(AppError);
      expect(y(await running)).toBe(5);
      expect(y(await queued)).toBe(8.5);
    });

    it('drops a job that waited longer than maxWaitMs with 503 timeout', async () => {
      const p = await make({ maxWaitMs: 5 });
      const running = p.infer('regression', x(1));
      const stale = p.infer('regression', x(2));
      await expect(stale).rejects.toMatchObject({ kind: 'unavailable', code: 'timeout' });
      await expect(running).resolves.toBeDefined();
    });

    it('never starts a queued job whose request was already answered (its signal aborted)', async () => {
      const p = await make();
      const running = p.infer('regression', x(1));
      const answered = new AbortController();
      const dropped = p.infer('regression', x(2), { signal: answered.signal });
      const next = p.infer('regression', x(3));
      answered.abort();
      await expect(dropped).rejects.toMatchObject({ kind: 'unavailable', code: 'timeout' });
      expect(y(await running)).toBeCloseTo(5);
      expect(y(await next)).toBeCloseTo(12);
    });
  });

  describe('replicas', () => {
    it('loads a model into that many workers only, and queues its jobs for them', async () => {
      const p = await make({ workers: 2, replicas: { regression: 1 } });
      const a = p.infer('regression', x(1));
      const b = p.infer('regression', x(2));
      expect(p.busyWorkers()).toBe(1);
      expect(p.queueDepth()).toEqual({ regression: 1 });
      await Promise.all([a, b]);
    });
  });

  describe('when something fails', () => {
    it('rejects the one job whose inference failed, and keeps serving', async () => {
      const p = await make();
      await expect(p.infer('regression', x(-1))).rejects.toThrow('inference failed: bad input');
      expect(y(await p.infer('regression', x(1)))).toBe(5);
    });

    it('rejects the job of a worker that died, replaces the worker, and serves the queue', async () => {
      const p = await make();
      const dying = p.infer('regression', x(-2));
      const waiting = p.infer('regression', x(2));
      await expect(dying).rejects.toThrow('inference worker exited with code 3');
      expect(y(await waiting)).toBe(8.5);
    });

    it('rejects an unknown model at once', async () => {
      const p = await make();
      await expect(p.infer('nope', x(1))).rejects.toThrow('model "nope" is not loaded');
    });

    it('rejects waiting jobs with 503 when closed, and never leaves one hanging', async () => {
      const p = await make();
      const running = p.infer('regression', x(1)).then(
        () => 'resolved',
        () => 'rejected',
      );
      const waiting = expect(p.infer('regression', x(2))).rejects.toMatchObject({ kind: 'unavailable', code: 'shutting_down' });
      await p.close();
      pool = null;
      await waiting;
      await expect(running).resolves.toMatch(/resolved|rejected/);
    });
  });

  describe('when a model is inline', () => {
    afterEach(() => jest.restoreAllMocks());

    it('runs it in this thread (an OnnxBackend) and starts no worker', async () => {
      const load = jest.spyOn(OnnxBackend.prototype, 'load').mockResolvedValue();
      const infer = jest.spyOn(OnnxBackend.prototype, 'infer').mockResolvedValue({ y: tensor('float32', Float32Array.of(19), [1, 1]) });
      const p = await make({ workers: 2, inline: ['regression'] });
      expect(y(await p.infer('regression', x(5)))).toBe(19);
      expect(load).toHaveBeenCalledWith(MODELS);
      expect(infer).toHaveBeenCalledWith('regression', x(5), {});
      expect(p.busyWorkers()).toBe(0);
      expect(p.description).toBe('onnxruntime-node (2 worker threads; in process: regression)');
    });
  });

  describe('workerScript', () => {
    it('picks worker.js beside the module when compiled', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pool-'));
      fs.writeFileSync(path.join(dir, 'worker.js'), '');
      expect(workerScript(dir)).toEqual({ script: path.join(dir, 'worker.js'), eval: false });
      fs.rmSync(dir, { recursive: true });
    });

    it('loads worker.ts through tsx when running from source', () => {
      const s = workerScript('/src/inference');
      expect(s.eval).toBe(true);
      expect(s.script).toContain('tsx');
      expect(s.script).toContain(JSON.stringify(path.join('/src/inference', 'worker.ts')));
    });
  });
});
