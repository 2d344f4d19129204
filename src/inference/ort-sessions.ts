/**
 * onnxruntime sessions behind the InferenceBackend interface, for both runtimes: onnxruntime-node
 * on the server (onnx.ts) and onnxruntime-web in the browser engine (src/browser/runtime.ts).
 * Both implement onnxruntime-common's API, so feeding a session and reading its outputs is one
 * piece of code; each subclass only says how a session is created. No Node APIs here.
 */
import { type InferenceBackend, type InferOptions, type ModelSpec, type NamedTensors, type Tensor, type TensorType, usualOutputs } from './backend';

/** What these backends use of an onnxruntime tensor. */
export interface OrtTensor {
  type: string;
  dims: readonly number[];
  data: unknown;
}

/** What these backends use of an onnxruntime InferenceSession. */
export interface OrtSession {
  run(feeds: Record<string, never>): Promise<Record<string, unknown>>;
  run(feeds: Record<string, never>, fetches: string[]): Promise<Record<string, unknown>>;
  release(): Promise<void>;
}

/** The onnxruntime tensor types passed on as they are: onnxruntime's data is already Tensor's. */
const TENSOR_TYPES: ReadonlySet<string> = new Set<TensorType>(['float32', 'uint8', 'int64', 'bool', 'string']);

/** An onnxruntime output tensor as plain data. */
export function fromOrt(value: OrtTensor): Tensor {
  if (!TENSOR_TYPES.has(value.type)) throw new Error(`unsupported output type ${value.type}`);
  return { type: value.type, dims: [...value.dims], data: value.data } as Tensor;
}

export abstract class OrtSessions implements InferenceBackend {
  abstract readonly description: string;
  private readonly sessions = new Map<string, OrtSession>();
  /** Per model, the outputs computed when a caller names none (see usualOutputs). */
  private readonly usual = new Map<string, readonly string[] | undefined>();

  /** `toOrt` builds the runtime's own Tensor (each package has its class). */
  constructor(private readonly toOrt: (t: Tensor) => unknown) {}

  /** One session for `model`, created once at load. */
  protected abstract createSession(model: ModelSpec): Promise<OrtSession>;

  async load(models: ModelSpec[]): Promise<void> {
    for (const model of models) {
      this.sessions.set(model.name, await this.createSession(model));
      this.usual.set(model.name, usualOutputs(model));
    }
  }

  async infer(model: string, inputs: NamedTensors, options: InferOptions = {}): Promise<NamedTensors> {
    const session = this.sessions.get(model);
    if (session === undefined) throw new Error(`model "${model}" is not loaded`);
    const feeds: Record<string, unknown> = {};
    for (const [name, t] of Object.entries(inputs)) feeds[name] = this.toOrt(t);
    const fetches = options.outputs ?? this.usual.get(model);
    const results = await (fetches === undefined
      ? session.run(feeds as Record<string, never>)
      : session.run(feeds as Record<string, never>, [...fetches]));
    const out: NamedTensors = {};
    for (const [name, value] of Object.entries(results)) out[name] = fromOrt(value as OrtTensor);
    return out;
  }

  async close(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(sessions.map((s) => s.release()));
  }
}
