/**
 * The Open Inference Protocol v2 (the KServe v2 protocol; Triton's HTTP/REST API): its datatypes,
 * its messages, and their bodies, as JSON alone or with Triton's binary tensor data extension (the
 * JSON header first, then each tensor's raw little-endian bytes, the header's length in the
 * Inference-Header-Content-Length header). Tensors inside messages are converted in tensors.ts;
 * a model card is checked against a server's signature in signatures.ts. One implementation
 * serves both sides: the model server role (server.ts) and the client backend
 * (src/inference/remote.ts).
 */
import { invalidInput } from '../errors';
import { jsonDepthWithin } from '../json-depth';
import type { TensorType } from '../inference/backend';

/** The protocol's datatypes this code converts, and the tensor type each becomes. */
export const DATATYPES = { BOOL: 'bool', UINT8: 'uint8', INT64: 'int64', FP32: 'float32', BYTES: 'string' } as const;
export type Datatype = keyof typeof DATATYPES;

const DATATYPE_OF: Record<TensorType, Datatype> = { bool: 'BOOL', uint8: 'UINT8', int64: 'INT64', float32: 'FP32', string: 'BYTES' };

export const datatypeOf = (type: TensorType): Datatype => DATATYPE_OF[type];
export const isDatatype = (d: unknown): d is Datatype => typeof d === 'string' && Object.hasOwn(DATATYPES, d);

/** Request header naming the length of the JSON part of a body that carries binary tensors. */
export const BINARY_HEADER = 'inference-header-content-length';

export type Parameters = Record<string, unknown>;

export interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

export interface ServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

export interface ModelMetadata {
  name: string;
  versions?: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

/** An input of a request, or an output of a response. */
export interface WireTensor {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: Parameters;
  data?: unknown[];
}

export interface InferRequest {
  id?: string;
  parameters?: Parameters;
  inputs: WireTensor[];
  outputs?: { name: string; parameters?: Parameters }[];
}

export interface InferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Parameters;
  outputs: WireTensor[];
}

export interface RepositoryIndexEntry {
  name: string;
  version?: string;
  state: string;
  reason: string;
}

const ERROR_DETAIL = 200;
/** A word the client sent, quoted for an error message and cut short when long. */
export const quote = (s: string): string => JSON.stringify(s.length > ERROR_DETAIL ? `${s.slice(0, ERROR_DETAIL)}…` : s);

// ---------------------------------------------------------------------------------------------
// Bodies: JSON alone, or a JSON header followed by binary tensor data.

export interface Message {
  json: unknown;
  /** The bytes after the JSON header (empty without binary data). */
  binary: Buffer;
}

/**
 * Deepest nesting of arrays and objects a message may have. A request is an object of tensors,
 * each with data nested at most as deep as its shape has dimensions; thousands of levels are an
 * attack: JSON.parse takes about 1 µs and an array of heap per level (4 MB of "[" took 1.9 s and
 * overflowed the stack when flattened).
 */
export const MAX_JSON_DEPTH = 32;

/** Splits and parses a body. `headerLength` is the Inference-Header-Content-Length header, if sent. */
export function readMessage(body: Buffer, headerLength: string | undefined): Message {
  let jsonEnd = body.length;
  if (headerLength !== undefined) {
    const n = Number(headerLength);
    if (!Number.isInteger(n) || n < 0 || n > body.length) {
      throw invalidInput('invalid_header_length', `Inference-Header-Content-Length ${quote(headerLength)} must be a whole number of bytes within the body (${body.length} bytes)`);
    }
    jsonEnd = n;
  }
  const text = body.subarray(0, jsonEnd);
  if (!jsonDepthWithin(text, MAX_JSON_DEPTH)) {
    throw invalidInput('invalid_json', `the request body nests arrays and objects more than ${MAX_JSON_DEPTH} deep; tensor data nests at most as deep as its shape`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text.toString('utf8'));
  } catch (err) {
    throw invalidInput('invalid_json', `the request body is not valid JSON: ${(err as Error).message}`);
  }
  return { json, binary: body.subarray(jsonEnd) };
}

/** The body for `json` followed by `chunks`; `headerLength` is set when there are chunks. */
export function writeMessage(json: unknown, chunks: Buffer[]): { body: Buffer; headerLength?: number } {
  const head = Buffer.from(JSON.stringify(json), 'utf8');
  if (chunks.length === 0) return { body: head };
  return { body: Buffer.concat([head, ...chunks]), headerLength: head.length };
}
