/**
 * A tiny ONNX writer for tests: a graph of a few nodes, float32 tensors and INT attributes,
 * encoded as a ModelProto in the protobuf wire format by hand (no dependency), so that a test can
 * build a model of its own (tests/fixtures/models/) and load it into onnxruntime like any other.
 *
 * Field numbers are those of onnx.proto (onnx/onnx, IR version 8):
 *   ModelProto        ir_version=1 (int64), producer_name=2, graph=7, opset_import=8
 *   OperatorSetIdProto domain=1, version=2
 *   GraphProto        node=1, name=2, initializer=5, input=11, output=12
 *   NodeProto         input=1, output=2, name=3, op_type=4, attribute=5
 *   AttributeProto    name=1, i=3, type=20 (AttributeType INT = 2)
 *   ValueInfoProto    name=1, type=2
 *   TypeProto         tensor_type=1;  TypeProto.Tensor elem_type=1 (DataType FLOAT = 1), shape=2
 *   TensorShapeProto  dim=1;  Dimension dim_value=1 | dim_param=2
 *   TensorProto       dims=1, data_type=2, name=8, raw_data=9 (little-endian)
 */

/** A float32 constant of the graph (an initializer). */
export interface FloatTensor {
  name: string;
  dims: readonly number[];
  data: readonly number[];
}

/** A float32 input or output: each dimension a size, or a name for one of any size (the batch). */
export interface FloatValue {
  name: string;
  shape: readonly (number | string)[];
}

export interface GraphNode {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  /** INT attributes only (e.g. Softmax's axis). */
  intAttributes?: Readonly<Record<string, number>>;
}

export interface Graph {
  name: string;
  nodes: readonly GraphNode[];
  initializers: readonly FloatTensor[];
  inputs: readonly FloatValue[];
  outputs: readonly FloatValue[];
}

const VARINT = 0;
const LENGTH_DELIMITED = 2;
const IR_VERSION = 8;
const FLOAT = 1; // TensorProto.DataType
const ATTRIBUTE_INT = 2; // AttributeProto.AttributeType

/** A varint; negative int64 values take ten bytes (two's complement), as protobuf writes them. */
function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return out;
}

/** One message being written: fields appended in order. */
class Message {
  private readonly bytes: number[] = [];

  int(field: number, value: number): this {
    this.bytes.push(...varint((field << 3) | VARINT), ...varint(value));
    return this;
  }

  raw(field: number, data: Uint8Array): this {
    this.bytes.push(...varint((field << 3) | LENGTH_DELIMITED), ...varint(data.length), ...data);
    return this;
  }

  string(field: number, text: string): this {
    return this.raw(field, new TextEncoder().encode(text));
  }

  message(field: number, inner: Message): this {
    return this.raw(field, inner.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

function tensorProto(t: FloatTensor): Message {
  const size = t.dims.reduce((a, b) => a * b, 1);
  if (size !== t.data.length)
    throw new Error(`${t.name}: dims [${t.dims.join(', ')}] hold ${size} values, got ${t.data.length}`);
  const raw = new Uint8Array(4 * t.data.length);
  const view = new DataView(raw.buffer);
  t.data.forEach((v, i) => view.setFloat32(4 * i, v, true));
  const m = new Message();
  for (const d of t.dims) m.int(1, d);
  return m.int(2, FLOAT).string(8, t.name).raw(9, raw);
}

function valueInfo(v: FloatValue): Message {
  const shape = new Message();
  for (const d of v.shape)
    shape.message(1, typeof d === 'number' ? new Message().int(1, d) : new Message().string(2, d));
  const tensorType = new Message().int(1, FLOAT).message(2, shape);
  return new Message().string(1, v.name).message(2, new Message().message(1, tensorType));
}

function nodeProto(n: GraphNode, index: number): Message {
  const m = new Message();
  for (const i of n.inputs) m.string(1, i);
  for (const o of n.outputs) m.string(2, o);
  m.string(3, n.name ?? `${n.opType.toLowerCase()}_${index}`).string(4, n.opType);
  for (const [name, value] of Object.entries(n.intAttributes ?? {})) {
    m.message(5, new Message().string(1, name).int(3, value).int(20, ATTRIBUTE_INT));
  }
  return m;
}

/** The graph as an ONNX model file's bytes (default opset 13 of the default domain). */
export function onnxModel(graph: Graph, options: { opset?: number; producer?: string } = {}): Uint8Array {
  const g = new Message();
  graph.nodes.forEach((n, i) => g.message(1, nodeProto(n, i)));
  g.string(2, graph.name);
  for (const t of graph.initializers) g.message(5, tensorProto(t));
  for (const v of graph.inputs) g.message(11, valueInfo(v));
  for (const v of graph.outputs) g.message(12, valueInfo(v));
  return new Message()
    .int(1, IR_VERSION)
    .string(2, options.producer ?? 'ml-forms tests/helpers/onnx-graph.ts')
    .message(7, g)
    .message(8, new Message().string(1, '').int(2, options.opset ?? 13))
    .finish();
}
