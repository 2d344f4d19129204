/**
 * The bytes of one inference call to a model tier (Open Inference Protocol v2): the request built
 * from a predictor's tensors, and the outputs and model version read from the answer. JSON, or
 * raw tensor bytes where the tier implements Triton's binary tensor data extension.
 */
import type http from 'node:http';
import { BINARY_HEADER, type InferResponse, type WireTensor, readMessage, writeMessage } from '../oip/protocol';
import { dimsFor } from '../oip/signatures';
import { BinaryReader, decodeTensor, encodeTensor } from '../oip/tensors';
import type { NamedTensors } from './backend';
import { type Payload, type Reply, header } from './oip-transport';

/**
 * The request for these inputs, shaped as the tier declares them (`inputShapes`: [N] sent as
 * [N, 1] where it wants that), as raw bytes when `binary`.
 */
/**
 * `outputs`: the outputs to ask for by name; absent, none are named and the server answers with
 * the model's usual ones (a model tier that follows the protocol returns every output its
 * configuration lists; ours, those not computed on request).
 */
export function inferRequest(
  inputs: NamedTensors,
  inputShapes: ReadonlyMap<string, number[]>,
  binary: boolean,
  outputs?: readonly string[],
): Payload {
  const chunks: Buffer[] = [];
  const wires: WireTensor[] = Object.entries(inputs).map(([name, t]) => {
    const shape = inputShapes.get(name);
    const sent = shape === undefined ? t : { ...t, dims: dimsFor(t.dims, shape) };
    const { wire, chunk } = encodeTensor(name, sent, binary && t.type !== 'string');
    if (chunk !== undefined) chunks.push(chunk);
    return wire;
  });
  // Outputs as raw bytes too where the server can: exact float32 values, Infinity and NaN
  // included (JSON has no Infinity: a value far out of range must stay out of range).
  const request: Record<string, unknown> = binary ? { inputs: wires, parameters: { binary_data_output: true } } : { inputs: wires };
  if (outputs !== undefined) request.outputs = outputs.map((name) => ({ name }));
  const { body, headerLength } = writeMessage(request, chunks);
  const headers: http.OutgoingHttpHeaders = { 'content-type': headerLength === undefined ? 'application/json' : 'application/octet-stream' };
  if (headerLength !== undefined) headers[BINARY_HEADER] = String(headerLength);
  return { body, headers };
}

/** The outputs of a 200 answer, and the model version it names (if any). Throws if unreadable. */
export function inferAnswer(reply: Reply): { outputs: NamedTensors; version: string | undefined } {
  const message = readMessage(reply.body, header(reply, BINARY_HEADER));
  const response = message.json as InferResponse;
  const reader = new BinaryReader(message.binary);
  const outputs: NamedTensors = {};
  for (const wire of response.outputs) {
    const { name, tensor } = decodeTensor(wire, reader, 'output');
    outputs[name] = tensor;
  }
  const version = typeof response.model_version === 'string' && response.model_version !== '' ? response.model_version : undefined;
  return { outputs, version };
}
