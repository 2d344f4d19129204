/**
 * Jest's node environment runs tests in a separate V8 realm with its own Float32Array, Uint8Array,
 * etc. onnxruntime-node builds output tensors from the main realm's typed arrays and checks them
 * with `instanceof` against the test realm's constructors, which fails ("A float32 tensor's data
 * must be type of function Float32Array()"). Sharing the main realm's constructors fixes it; the
 * app itself never runs in a second realm.
 */
const { TestEnvironment } = require('jest-environment-node');

const SHARED = [
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
];

class SharedTypedArraysEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const name of SHARED) this.global[name] = globalThis[name];
  }
}

module.exports = SharedTypedArraysEnvironment;
