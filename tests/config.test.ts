import os from 'node:os';
import { ConfigError, defaultHttpProcesses, loadConfig } from '../src/config';

describe('loadConfig', () => {
  it('works with no environment at all', () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.maxUploadBytes).toBe(5 * 1024 * 1024);
    expect(c.maxImagePixels).toBe(4_000_000);
    expect(c.maxReviewChars).toBe(20_000);
    expect(c.requestTimeoutMs).toBeLessThan(30_000);
    expect(c.modelsDir).toMatch(/models$/);
  });

  it('limits a multi-image post to 100 images and 50 MB, 4 classified at once, unless told otherwise', () => {
    expect(loadConfig({})).toMatchObject({ maxBatchFiles: 100, maxBatchBytes: 50 * 1024 * 1024, batchConcurrency: 4 });
    expect(loadConfig({ MAX_BATCH_FILES: '20', MAX_BATCH_MB: '10.5', BATCH_CONCURRENCY: '2' })).toMatchObject({
      maxBatchFiles: 20,
      maxBatchBytes: 10.5 * 1024 * 1024,
      batchConcurrency: 2,
    });
  });

  it("leaves the runs of a model started at once to the model unless ONNX_RUNS_PER_TURN says otherwise (0: no limit)", () => {
    expect(loadConfig({}).onnxRunsPerTurn).toBeUndefined();
    expect(loadConfig({ ONNX_RUNS_PER_TURN: '' }).onnxRunsPerTurn).toBeUndefined();
    expect(loadConfig({ ONNX_RUNS_PER_TURN: '2' }).onnxRunsPerTurn).toBe(2);
    expect(loadConfig({ ONNX_RUNS_PER_TURN: '0' }).onnxRunsPerTurn).toBe(0);
    expect(() => loadConfig({ ONNX_RUNS_PER_TURN: 'many' })).toThrow(ConfigError);
  });

  it('reads PORT and limits from the environment', () => {
    const c = loadConfig({ PORT: '8080', MAX_UPLOAD_MB: '2', MAX_REVIEW_CHARS: '100' });
    expect(c).toMatchObject({ port: 8080, maxUploadBytes: 2 * 1024 * 1024, maxReviewChars: 100 });
  });

  it('serves HTTP from one process per core, as many as memory allows, unless WEB_CONCURRENCY says how many', () => {
    expect(defaultHttpProcesses(2, 24 * 1024 ** 3)).toBe(2);
    expect(defaultHttpProcesses(8, 512 * 1024 ** 2)).toBe(3);
    expect(defaultHttpProcesses(4, 256 * 1024 ** 2)).toBe(1);
    expect(defaultHttpProcesses(1, 64 * 1024 ** 3)).toBe(1);
    expect(loadConfig({}).httpProcesses).toBe(defaultHttpProcesses(os.availableParallelism(), os.totalmem()));
    expect(loadConfig({ HEROKU_AVAILABLE_PARALLELISM: '1' }).httpProcesses).toBe(1);
    expect(loadConfig({ WEB_CONCURRENCY: '3' }).httpProcesses).toBe(3);
    expect(loadConfig({ WEB_CONCURRENCY: '1' }).httpProcesses).toBe(1);
  });

  it('keeps the models in each HTTP process, on its event loop, unless told otherwise', () => {
    expect(loadConfig({ WEB_CONCURRENCY: '2' })).toMatchObject({ clusterModels: 'each', inferenceWorkers: 0 });
    expect(loadConfig({ WEB_CONCURRENCY: '2', CLUSTER_MODELS: 'host', HEROKU_AVAILABLE_PARALLELISM: '2' })).toMatchObject({ clusterModels: 'host', inferenceWorkers: 2 });
    expect(loadConfig({ WEB_CONCURRENCY: '2', INFERENCE_WORKERS: '1' }).inferenceWorkers).toBe(1);
    expect(() => loadConfig({ CLUSTER_MODELS: 'shared' })).toThrow(/CLUSTER_MODELS/);
  });

  it('gives one process inference threads that follow the cores, at most 4', () => {
    const c = loadConfig({ WEB_CONCURRENCY: '1' });
    expect(c.inferenceWorkers).toBeGreaterThanOrEqual(1);
    expect(c.inferenceWorkers).toBeLessThanOrEqual(4);
    expect(c.inferenceReplicas).toEqual({});
    expect(loadConfig({ WEB_CONCURRENCY: '3', INFERENCE_WORKERS: '0' })).toMatchObject({ httpProcesses: 3, inferenceWorkers: 0 });
    expect(loadConfig({ INFERENCE_REPLICAS: 'sentiment=1' }).inferenceReplicas).toEqual({ sentiment: 1 });
  });

  it("sizes inference threads from the dyno's cores where Heroku says them (HEROKU_AVAILABLE_PARALLELISM)", () => {
    const one = { WEB_CONCURRENCY: '1' };
    expect(loadConfig({ ...one, HEROKU_AVAILABLE_PARALLELISM: '1' }).inferenceWorkers).toBe(1);
    expect(loadConfig({ ...one, HEROKU_AVAILABLE_PARALLELISM: '2' }).inferenceWorkers).toBe(2);
    expect(loadConfig({ ...one, HEROKU_AVAILABLE_PARALLELISM: '32' }).inferenceWorkers).toBe(4);
    expect(loadConfig({ ...one, HEROKU_AVAILABLE_PARALLELISM: '2', INFERENCE_WORKERS: '3' }).inferenceWorkers).toBe(3);
    expect(() => loadConfig({ HEROKU_AVAILABLE_PARALLELISM: 'many' })).toThrow(/HEROKU_AVAILABLE_PARALLELISM/);
  });

  it.each([
    [{ WEB_CONCURRENCY: '0' }, /WEB_CONCURRENCY/],
    [{ PORT: 'eighty' }, /PORT/],
    [{ PORT: '70000' }, /PORT/],
    [{ MAX_UPLOAD_MB: '-1' }, /MAX_UPLOAD_MB/],
    [{ NODE_ENV: 'staging' }, /NODE_ENV/],
    [{ MAX_BATCH_FILES: '0' }, /MAX_BATCH_FILES/],
    [{ MAX_BATCH_FILES: '2.5' }, /MAX_BATCH_FILES/],
    [{ MAX_BATCH_MB: 'lots' }, /MAX_BATCH_MB/],
    [{ BATCH_CONCURRENCY: '0' }, /BATCH_CONCURRENCY/],
  ])('fails fast naming the variable for %p', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
