/**
 * Inference as the protocol defines it, without HTTP: the request's top level checked, its input
 * tensors checked against the model's config (as Triton does) and reshaped to what the model
 * takes, the model run, and the outputs asked for encoded as JSON or binary tensor data. The
 * endpoint (src/oip/endpoints.ts) reads the body and sends what runInference returns.
 */
import { invalidInput } from '../errors';
import type { NamedTensors, Tensor } from '../inference/backend';
import { type InferRequest, type InferResponse, type WireTensor, readMessage, writeMessage } from './protocol';
import { type ModelConfig, wireShape } from './repository';
import type { ModelStore, ServedEntry } from './store';
import { type Explainer, explainSwitch } from '../models/model';

/** The extra output of a model that explains its answers: each item's explanation as a JSON string (BYTES), as Seldon names it over this protocol. */
export const EXPLANATION = 'explanation';
import { BinaryReader, decodeTensor, encodeTensor } from './tensors';

/** The top level of an inference request, checked; tensors are decoded separately. */
function inferRequest(json: unknown): InferRequest {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw invalidInput('invalid_request', 'the request must be a JSON object with "inputs"');
  const r = json as Partial<InferRequest>;
  if (!Array.isArray(r.inputs) || r.inputs.length === 0) throw invalidInput('invalid_request', 'the request needs "inputs": a non-empty list of tensors');
  if (r.id !== undefined && typeof r.id !== 'string') throw invalidInput('invalid_request', '"id" must be a string');
  if (r.parameters !== undefined && (typeof r.parameters !== 'object' || r.parameters === null || Array.isArray(r.parameters))) {
    throw invalidInput('invalid_request', '"parameters" must be an object');
  }
  if (r.outputs !== undefined) {
    if (!Array.isArray(r.outputs) || !r.outputs.every((o) => typeof o === 'object' && o !== null && typeof o.name === 'string')) {
      throw invalidInput('invalid_request', '"outputs" must be a list of {"name": …}');
    }
  }
  return r as InferRequest;
}

const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * The request's inputs checked against the model's config, as Triton does: every declared input
 * once and nothing else, its datatype, its shape (the batch dimension first, 1…max_batch_size,
 * the same for every input), then reshaped to what the model itself takes.
 */
export function modelInputs(
  config: ModelConfig,
  wires: unknown[],
  binary: BinaryReader,
  /** An input a client may leave out: the bool [N] switch of an explanation, then `value` for every item. */
  optional?: { name: string; value: boolean },
): NamedTensors {
  const feeds: NamedTensors = {};
  let batch: number | null = null;
  for (const wire of wires) {
    const { name, tensor } = decodeTensor(wire, binary, 'input');
    const spec = config.inputs.find((t) => t.name === name);
    if (spec === undefined) {
      throw invalidInput('unknown_input', `model "${config.name}" has no input "${name}"; its inputs: ${config.inputs.map((t) => t.name).join(', ')}`);
    }
    if (feeds[name] !== undefined) throw invalidInput('duplicate_input', `input "${name}" is given twice`);
    const datatype = (wire as WireTensor).datatype;
    if (datatype !== spec.datatype) throw invalidInput('wrong_datatype', `input "${name}" of model "${config.name}" is ${spec.datatype}, not ${datatype}`);
    const expected = wireShape(config, spec);
    const dims = tensor.dims;
    const fits = dims.length === expected.length && dims.every((d, i) => (expected[i] === -1 ? d >= 1 : d === expected[i]));
    if (!fits) {
      const hint = config.maxBatchSize > 0 ? ' (the first dimension is the batch)' : '';
      throw invalidInput('wrong_shape', `input "${name}" of model "${config.name}" must have shape ${shapeText(expected)}${hint}, got ${shapeText(dims)}`);
    }
    if (config.maxBatchSize > 0) {
      const n = dims[0] as number;
      if (n > config.maxBatchSize) throw invalidInput('batch_too_large', `a batch of ${n} is more than model "${config.name}" takes (max_batch_size ${config.maxBatchSize})`);
      if (batch !== null && n !== batch) throw invalidInput('wrong_shape', `every input needs the same batch size; got ${batch} and ${n}`);
      batch = n;
    }
    feeds[name] = spec.reshape === undefined ? tensor : reshaped(tensor, config.maxBatchSize > 0 ? [dims[0] as number, ...spec.reshape] : spec.reshape);
  }
  binary.finish();
  if (optional !== undefined && feeds[optional.name] === undefined && config.inputs.some((t) => t.name === optional.name)) {
    feeds[optional.name] = explainSwitch(optional.value, batch ?? 1);
  }
  const missing = config.inputs.filter((t) => feeds[t.name] === undefined).map((t) => t.name);
  if (missing.length > 0) throw invalidInput('missing_input', `model "${config.name}" needs input ${missing.map((n) => `"${n}"`).join(', ')}`);
  return feeds;
}

function reshaped(t: Tensor, shape: number[]): Tensor {
  const count = t.data.length;
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  return { ...t, dims: shape.map((d) => (d === -1 ? count / known : d)) } as Tensor;
}

/**
 * Runs one inference request (`body`, with its Inference-Header-Content-Length) on model `name`
 * (at `version`, or the current one): the answer's bytes, and the length of its JSON header when
 * binary tensor data follows it.
 */
export async function runInference(
  store: ModelStore,
  name: string,
  version: string | undefined,
  body: Buffer,
  headerLength: string | undefined,
  explainer?: Explainer,
  /**
   * Told of each run, with its inputs and every output the model computed (the prediction log's
   * src/oip/log.ts): the card's usual outputs are then computed even when the client asks only
   * for others, so that the answer can be logged.
   */
  onRun?: (entry: ServedEntry, inputs: NamedTensors, outputs: NamedTensors) => void,
): Promise<{ body: Buffer; headerLength?: number }> {
  const { json, binary } = readMessage(body, headerLength);
  const request = inferRequest(json);
  // Resolved again now that the body is in: the sessions that run it are the ones current now.
  const resolved = store.resolve(name, version);
  const { config: modelConfig } = resolved.entry;
  // An explanation's switch may be left out: set when its explanation or its tensors are asked for.
  const asked = new Set(request.outputs?.map((o) => o.name));
  const switchOn = explainer !== undefined && (asked.has(EXPLANATION) || explainer.outputs.some((n) => asked.has(n)));
  const optional = explainer?.switch === undefined ? undefined : { name: explainer.switch, value: switchOn };
  const feeds = modelInputs(modelConfig, request.inputs, new BinaryReader(binary), optional);
  // None named: the configuration's outputs, except those its card says are computed on request.
  const onRequest = new Set(resolved.entry.card?.outputs.filter((o) => o.on_request === true).map((o) => o.name));
  const wanted: NonNullable<InferRequest['outputs']> =
    request.outputs ?? modelConfig.outputs.filter((o) => !onRequest.has(o.name)).map((o) => ({ name: o.name }));
  // Besides its configuration's outputs, a model that explains its answers has them on request:
  // the graph's tensors they are made from, and `explanation` (a JSON string per item).
  const offered = [...modelConfig.outputs.map((t) => t.name), ...(explainer === undefined ? [] : [...explainer.outputs, EXPLANATION])];
  for (const o of wanted) {
    if (!offered.includes(o.name)) {
      throw invalidInput('unknown_output', `model "${name}" has no output "${o.name}"; its outputs: ${offered.join(', ')}`);
    }
  }
  const explained = explainer !== undefined && wanted.some((o) => o.name === EXPLANATION);
  const run = new Set(wanted.map((o) => o.name).filter((n) => n !== EXPLANATION));
  if (explained) for (const n of explainer.outputs) run.add(n);
  if (onRun !== undefined) for (const o of modelConfig.outputs) if (!onRequest.has(o.name)) run.add(o.name);
  const outputs = await store.run(resolved, feeds, [...run]);
  onRun?.(resolved.entry, feeds, outputs);
  if (explained) {
    const items = explainer.explain(feeds, outputs, resolved.entry.card).map((e) => JSON.stringify(e));
    outputs[EXPLANATION] = { type: 'string', dims: [items.length], data: items };
  }
  const allBinary = request.parameters?.binary_data_output === true;
  const chunks: Buffer[] = [];
  const response: InferResponse = {
    model_name: name,
    model_version: resolved.entry.version,
    ...(request.id === undefined ? {} : { id: request.id }),
    outputs: wanted.map((o) => {
      const t = outputs[o.name];
      if (t === undefined) throw new Error(`the model returned no output "${o.name}"`);
      const binaryOut = typeof o.parameters?.binary_data === 'boolean' ? o.parameters.binary_data : allBinary;
      const { wire, chunk } = encodeTensor(o.name, t, binaryOut);
      if (chunk !== undefined) chunks.push(chunk);
      return wire;
    }),
  };
  return writeMessage(response, chunks);
}
