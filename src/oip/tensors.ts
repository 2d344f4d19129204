/**
 * Tensors to and from their Open Inference Protocol v2 wire form (protocol.ts): checked against
 * their datatype and shape, as JSON `data` or as raw little-endian bytes of Triton's binary tensor
 * data extension, read in order from the bytes after a message's JSON header.
 */
import { invalidInput } from '../errors';
import type { Tensor, TensorType } from '../inference/backend';
import { DATATYPES, type WireTensor, datatypeOf, isDatatype, quote } from './protocol';

/** Bytes per element in the binary form (BYTES elements carry their own length). */
const ITEM_BYTES: Record<Exclude<TensorType, 'string'>, number> = { bool: 1, uint8: 1, int64: 8, float32: 4 };

/** Most dimensions a tensor may have (the models here use 1 to 4): a shape of millions of dimensions is an attack. */
const MAX_RANK = 16;

/** Elements in a tensor of `shape`, or null if the shape is not a list of whole numbers ≥ 0 (or absurdly large). */
export function elementCount(shape: unknown): number | null {
  if (!Array.isArray(shape) || shape.length > MAX_RANK) return null;
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || (d as number) < 0) return null;
    n *= d as number;
  }
  return Number.isSafeInteger(n) ? n : null;
}

/** Reads binary tensor data in order: each tensor with binary_data_size takes the next bytes. */
export class BinaryReader {
  private offset = 0;
  constructor(private readonly bytes: Buffer) {}

  take(size: number, what: string): Buffer {
    if (this.offset + size > this.bytes.length) {
      throw invalidInput('invalid_binary_data', `${what} has binary_data_size ${size}, but only ${this.bytes.length - this.offset} bytes of binary data remain`);
    }
    const chunk = this.bytes.subarray(this.offset, this.offset + size);
    this.offset += size;
    return chunk;
  }

  /** Binary data nobody claimed is a malformed request, not something to ignore. */
  finish(): void {
    if (this.offset !== this.bytes.length) {
      throw invalidInput('invalid_binary_data', `${this.bytes.length - this.offset} bytes of binary data follow the JSON header that no tensor claims`);
    }
  }
}

/** A flat list of elements from JSON `data`, which may be nested row-major arrays. */
function flatData(data: unknown, what: string): unknown[] {
  if (!Array.isArray(data)) throw invalidInput('invalid_data', `${what} needs "data" as an array (or binary_data_size)`);
  return data.some(Array.isArray) ? (data.flat(Infinity) as unknown[]) : data;
}

/** What a JSON element of each type must be, and the words for it when it is not. */
const JSON_ELEMENT: Record<TensorType, { ok: (v: unknown) => boolean; expected: string }> = {
  float32: { ok: (v) => typeof v === 'number', expected: 'a number' },
  uint8: { ok: (v) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 255, expected: 'a whole number from 0 to 255' },
  int64: { ok: (v) => Number.isSafeInteger(v), expected: 'a whole number (within ±2^53 in JSON)' },
  bool: { ok: (v) => typeof v === 'boolean', expected: 'true or false' },
  string: { ok: (v) => typeof v === 'string', expected: 'a string' },
};

function fromJson(type: TensorType, values: unknown[], what: string): Tensor['data'] {
  const { ok, expected } = JSON_ELEMENT[type];
  for (let i = 0; i < values.length; i++) {
    if (!ok(values[i])) throw invalidInput('invalid_data', `${what}: element ${i} is ${JSON.stringify(values[i])?.slice(0, 40)}, not ${expected}`);
  }
  switch (type) {
    case 'float32':
      return Float32Array.from(values as number[]);
    case 'uint8':
      return Uint8Array.from(values as number[]);
    case 'int64':
      return BigInt64Array.from(values as number[], (v) => BigInt(v));
    case 'bool':
      return Uint8Array.from(values as boolean[], (v) => (v ? 1 : 0));
    case 'string':
      return values as string[];
  }
}

function fromBinary(type: TensorType, bytes: Buffer, count: number, what: string): Tensor['data'] {
  if (type === 'string') {
    const out: string[] = [];
    let at = 0;
    while (at < bytes.length) {
      if (at + 4 > bytes.length) break;
      const len = bytes.readUInt32LE(at);
      if (at + 4 + len > bytes.length) break;
      out.push(bytes.toString('utf8', at + 4, at + 4 + len));
      at += 4 + len;
    }
    if (at !== bytes.length || out.length !== count) {
      throw invalidInput('invalid_binary_data', `${what}: the BYTES binary data does not hold exactly ${count} length-prefixed elements`);
    }
    return out;
  }
  const size = ITEM_BYTES[type];
  if (bytes.length !== count * size) {
    throw invalidInput('invalid_binary_data', `${what}: binary_data_size is ${bytes.length} bytes; shape and datatype need ${count * size}`);
  }
  if (type === 'uint8' || type === 'bool') {
    if (type === 'bool' && bytes.some((b) => b > 1)) throw invalidInput('invalid_binary_data', `${what}: BOOL bytes must be 0 or 1`);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  }
  // A copy: typed arrays need an aligned offset, which a slice of the body need not have.
  // Little-endian on the wire and in memory (x86 and ARM, where Node runs).
  const own = new Uint8Array(bytes).buffer;
  return type === 'float32' ? new Float32Array(own) : new BigInt64Array(own);
}

/**
 * A tensor from its wire form: name, a supported datatype, a shape of whole numbers, and data
 * that agrees with both (JSON `data`, or `binary_data_size` bytes from `binary`). Anything else
 * is a 400 naming what is wrong.
 */
export function decodeTensor(wire: unknown, binary: BinaryReader, kind: 'input' | 'output'): { name: string; tensor: Tensor } {
  if (typeof wire !== 'object' || wire === null || Array.isArray(wire)) throw invalidInput('invalid_request', `each ${kind} must be an object`);
  const t = wire as Partial<WireTensor>;
  if (typeof t.name !== 'string' || t.name === '') throw invalidInput('invalid_request', `each ${kind} needs a "name"`);
  const what = `${kind} ${quote(t.name)}`;
  if (!isDatatype(t.datatype)) {
    throw invalidInput(
      'invalid_datatype',
      `${what} has datatype ${quote(String(t.datatype))}; this server handles ${Object.keys(DATATYPES).join(', ')}`,
    );
  }
  const count = elementCount(t.shape);
  if (count === null) throw invalidInput('invalid_shape', `${what} needs "shape" as a list of whole numbers ≥ 0`);
  const type = DATATYPES[t.datatype];
  const size = t.parameters?.binary_data_size;
  let data: Tensor['data'];
  if (size !== undefined) {
    if (!Number.isSafeInteger(size) || (size as number) < 0) throw invalidInput('invalid_binary_data', `${what}: binary_data_size must be a whole number of bytes`);
    if (t.data !== undefined) throw invalidInput('invalid_data', `${what} has both "data" and binary_data_size`);
    data = fromBinary(type, binary.take(size as number, what), count, what);
  } else {
    const values = flatData(t.data, what);
    if (values.length !== count) {
      throw invalidInput('shape_mismatch', `${what} has shape [${(t.shape as number[]).join(', ')}] (${count} elements) but ${values.length} data elements`);
    }
    data = fromJson(type, values, what);
  }
  return { name: t.name, tensor: { type, dims: [...(t.shape as number[])], data } as Tensor };
}

/** A tensor as JSON data (`binary` false) or as a binary chunk for writeMessage. */
export function encodeTensor(name: string, tensor: Tensor, binary: boolean): { wire: WireTensor; chunk?: Buffer } {
  const head = { name, datatype: datatypeOf(tensor.type), shape: tensor.dims };
  if (binary) {
    const chunk = toBinary(tensor);
    return { wire: { ...head, parameters: { binary_data_size: chunk.length } }, chunk };
  }
  return { wire: { ...head, data: toJson(tensor) } };
}

function toJson(t: Tensor): unknown[] {
  switch (t.type) {
    case 'string':
      return t.data as string[];
    case 'bool':
      return Array.from(t.data as Uint8Array, (b) => b !== 0);
    case 'int64':
      return Array.from(t.data as BigInt64Array, Number);
    default:
      return Array.from(t.data as Float32Array | Uint8Array);
  }
}

function toBinary(t: Tensor): Buffer {
  if (t.type === 'string') {
    return Buffer.concat(
      (t.data as string[]).flatMap((s) => {
        const bytes = Buffer.from(s, 'utf8');
        const len = Buffer.alloc(4);
        len.writeUInt32LE(bytes.length);
        return [len, bytes];
      }),
    );
  }
  const d = t.data as Float32Array | Uint8Array | BigInt64Array;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}
