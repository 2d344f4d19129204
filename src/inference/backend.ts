/**
 * The inference-backend interface: predictors hand it named tensors and get named tensors back,
 * without knowing whether the model runs in this thread (onnx.ts), in a worker pool, or on a
 * model server speaking the Open Inference Protocol v2. Tensors are plain data so they can cross
 * thread and network boundaries unchanged.
 */
export type TensorType = 'float32' | 'uint8' | 'int64' | 'string';

export interface TensorDataMap {
  float32: Float32Array;
  uint8: Uint8Array;
  int64: BigInt64Array;
  string: string[];
}

export interface Tensor<T extends TensorType = TensorType> {
  type: T;
  dims: number[];
  data: TensorDataMap[T];
}

export type NamedTensors = Record<string, Tensor>;

/** Where one model's files are: models/<name>/<version>/model.onnx. */
export interface ModelSpec {
  name: string;
  version: string;
  path: string;
}

export interface InferenceBackend {
  /** Human-readable, e.g. "onnxruntime-node (in process)". */
  readonly description: string;
  /** Loads each model once. Called at start-up, never per request. */
  load(models: ModelSpec[]): Promise<void>;
  infer(model: string, inputs: NamedTensors): Promise<NamedTensors>;
  /** Releases sessions (and threads, for pooled backends). */
  close(): Promise<void>;
}

export function tensor<T extends TensorType>(type: T, data: TensorDataMap[T], dims: number[]): Tensor<T> {
  return { type, data, dims };
}

/** The output a predictor needs, checked: a model with the wrong outputs is a server bug. */
export function output<T extends TensorType>(outputs: NamedTensors, name: string, type: T): Tensor<T> {
  const t = outputs[name];
  if (t === undefined || t.type !== type) {
    throw new Error(`model output "${name}" missing or not ${type}`);
  }
  return t as Tensor<T>;
}
