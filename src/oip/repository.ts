/**
 * The model repository as Triton reads it: models/<name>/config.pbtxt beside numbered version
 * folders models/<name>/<version>/model.onnx. This module gives the config its types (the fields
 * a server of ONNX models needs; Triton's others are ignored), picks the versions to serve by the
 * config's version policy, and describes a model the way Triton's metadata endpoint does.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ModelSpec } from '../inference/backend';
import type { ModelCard } from '../predictors/types';
import { type PbMessage, type PbValue, PbtxtError, isIdent, isMessage, parsePbtxt } from './pbtxt';
import type { Datatype, ModelMetadata, TensorMetadata } from './protocol';

/** Triton's data types for the protocol's datatypes this server converts. */
export const CONFIG_DATATYPES: Readonly<Record<string, Datatype>> = {
  TYPE_BOOL: 'BOOL',
  TYPE_UINT8: 'UINT8',
  TYPE_INT64: 'INT64',
  TYPE_FP32: 'FP32',
  TYPE_STRING: 'BYTES',
};

export interface TensorConfig {
  name: string;
  /** As in the config, e.g. TYPE_FP32. */
  dataType: string;
  /** As in the protocol, e.g. FP32. */
  datatype: Datatype;
  /** Without the batch dimension when max_batch_size > 0; -1 = any size. */
  dims: number[];
  /** The shape the model itself takes (Triton's `reshape`), when it differs from dims. */
  reshape?: number[];
}

export type VersionPolicy = { kind: 'latest'; count: number } | { kind: 'all' } | { kind: 'specific'; versions: string[] };

export interface ModelConfig {
  name: string;
  backend: string;
  /** 0: the model takes no batch dimension; n > 0: a first dimension of 1…n is added to every tensor. */
  maxBatchSize: number;
  inputs: TensorConfig[];
  outputs: TensorConfig[];
  versionPolicy: VersionPolicy;
}

export class RepositoryError extends Error {}

const one = (msg: PbMessage, field: string): PbValue | undefined => msg[field]?.at(-1);

function ints(values: PbValue[] | undefined, what: string): number[] {
  return (values ?? []).map((v) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new RepositoryError(`${what} must be whole numbers`);
    return v;
  });
}

function tensorConfig(msg: PbValue, where: string): TensorConfig {
  if (!isMessage(msg)) throw new RepositoryError(`${where}: expected { name, data_type, dims }`);
  const name = one(msg, 'name');
  if (typeof name !== 'string' || name === '') throw new RepositoryError(`${where}: missing name`);
  const what = `${where} "${name}"`;
  const type = one(msg, 'data_type');
  const dataType = isIdent(type) ? type.ident : typeof type === 'string' ? type : '';
  const datatype = CONFIG_DATATYPES[dataType];
  if (datatype === undefined) {
    throw new RepositoryError(`${what}: data_type ${dataType || '(missing)'} is not one this server converts (${Object.keys(CONFIG_DATATYPES).join(', ')})`);
  }
  const dims = ints(msg.dims, `${what}: dims`);
  if (dims.length === 0) throw new RepositoryError(`${what}: dims must not be empty (a model taking [batch] alone says dims: [ 1 ] with reshape: { shape: [ ] })`);
  if (dims.some((d) => d === 0 || d < -1)) throw new RepositoryError(`${what}: dims must be positive, or -1 for any size`);
  const reshapeMsg = one(msg, 'reshape');
  let reshape: number[] | undefined;
  if (reshapeMsg !== undefined) {
    if (!isMessage(reshapeMsg)) throw new RepositoryError(`${what}: reshape must be { shape: [ … ] }`);
    reshape = ints(reshapeMsg.shape, `${what}: reshape.shape`);
    const fixed = (s: number[]): number | null => (s.includes(-1) ? null : s.reduce((a, b) => a * b, 1));
    if (fixed(dims) !== null && fixed(reshape) !== null && fixed(dims) !== fixed(reshape)) {
      throw new RepositoryError(`${what}: reshape [${reshape.join(', ')}] does not hold the ${fixed(dims)} elements of dims [${dims.join(', ')}]`);
    }
  }
  return { name, dataType, datatype, dims, reshape };
}

function versionPolicy(msg: PbValue | undefined, where: string): VersionPolicy {
  if (msg === undefined) return { kind: 'latest', count: 1 }; // Triton's default
  if (!isMessage(msg)) throw new RepositoryError(`${where}: version_policy must be { latest | all | specific }`);
  const latest = one(msg, 'latest');
  if (isMessage(latest)) {
    const n = one(latest, 'num_versions') ?? 1;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw new RepositoryError(`${where}: version_policy latest num_versions must be ≥ 1`);
    return { kind: 'latest', count: n };
  }
  if (isMessage(one(msg, 'all'))) return { kind: 'all' };
  const specific = one(msg, 'specific');
  if (isMessage(specific)) {
    const versions = ints(specific.versions, `${where}: version_policy specific versions`).map(String);
    if (versions.length === 0) throw new RepositoryError(`${where}: version_policy specific lists no versions`);
    return { kind: 'specific', versions };
  }
  throw new RepositoryError(`${where}: version_policy must be { latest | all | specific }`);
}

/** A config.pbtxt's text, typed and checked; `dirName` is the model's folder (its name). */
export function parseModelConfig(text: string, dirName: string): ModelConfig {
  const where = `models/${dirName}/config.pbtxt`;
  let msg: PbMessage;
  try {
    msg = parsePbtxt(text);
  } catch (err) {
    if (err instanceof PbtxtError) throw new RepositoryError(`${where}: ${err.message}`);
    throw err;
  }
  const name = one(msg, 'name') ?? dirName;
  if (name !== dirName) throw new RepositoryError(`${where}: name "${String(name)}" must be the folder's name, "${dirName}"`);
  const backend = one(msg, 'backend');
  const platform = one(msg, 'platform');
  if (backend !== 'onnxruntime' && !(backend === undefined && platform === 'onnxruntime_onnx')) {
    throw new RepositoryError(`${where}: backend "${String(backend ?? platform)}"; this server runs ONNX models (backend: "onnxruntime")`);
  }
  const maxBatchSize = one(msg, 'max_batch_size') ?? 0;
  if (typeof maxBatchSize !== 'number' || !Number.isInteger(maxBatchSize) || maxBatchSize < 0) {
    throw new RepositoryError(`${where}: max_batch_size must be a whole number ≥ 0`);
  }
  const inputs = (msg.input ?? []).map((t) => tensorConfig(t, `${where}: input`));
  const outputs = (msg.output ?? []).map((t) => tensorConfig(t, `${where}: output`));
  if (inputs.length === 0 || outputs.length === 0) throw new RepositoryError(`${where}: needs at least one input and one output`);
  for (const list of [inputs, outputs]) {
    const names = list.map((t) => t.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup !== undefined) throw new RepositoryError(`${where}: "${dup}" is declared twice`);
  }
  return { name: dirName, backend: 'onnxruntime', maxBatchSize, inputs, outputs, versionPolicy: versionPolicy(one(msg, 'version_policy'), where) };
}

export function readModelConfig(repo: string, name: string): ModelConfig {
  const file = path.join(repo, name, 'config.pbtxt');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new RepositoryError(`models/${name}/config.pbtxt cannot be read`);
  }
  return parseModelConfig(text, name);
}

/** Every folder of the repository that holds a config.pbtxt, by name. */
export function modelNames(repo: string): string[] {
  return fs
    .readdirSync(repo, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(repo, e.name, 'config.pbtxt')))
    .map((e) => e.name)
    .sort();
}

/** The numbered version folders holding a model.onnx, in ascending order. */
export function versionsOnDisk(repo: string, name: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(path.join(repo, name), { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => e.isDirectory() && /^\d+$/.test(e.name) && fs.existsSync(path.join(repo, name, e.name, 'model.onnx')))
    .map((e) => e.name)
    .sort((a, b) => Number(a) - Number(b));
}

/** The versions the policy serves among those on disk (ascending). */
export function servedVersions(config: ModelConfig, onDisk: string[]): string[] {
  const p = config.versionPolicy;
  if (p.kind === 'all') return onDisk;
  if (p.kind === 'latest') return onDisk.slice(-p.count);
  return onDisk.filter((v) => p.versions.some((w) => Number(w) === Number(v)));
}

/**
 * The version a request that names none gets: the newest served version a card describes
 * (readVersionCard: its own card.json, or the model's card.json naming it), else the newest
 * served. A version without a card is one served beside it, asked for by number: the 8-bit
 * version training/quantize.py writes next to the float one it was made from (its figures are in
 * the float card's `quantized` section) is /v2/models/<name>/versions/<v>/infer, while the float
 * version stays the default. A new version that brings its card (a retrain rolled out) becomes
 * the default. Triton itself answers a request without a version with the newest version loaded.
 */
export function defaultVersion(repo: string, name: string, served: readonly string[]): string | undefined {
  return [...served].reverse().find((v) => readVersionCard(repo, name, v) !== undefined) ?? served.at(-1);
}

/** Where a model version's graph is: <repository>/<name>/<version>/model.onnx (Triton's layout; the app's registry uses it too). */
export function onnxPath(repo: string, name: string, version: string): string {
  return path.join(repo, name, version, 'model.onnx');
}

export function modelSpecFor(repo: string, name: string, version: string): ModelSpec {
  return { name, version, path: onnxPath(repo, name, version) };
}

/** A tensor's shape as clients send it: the batch dimension (-1) first when the model batches. */
export function wireShape(config: ModelConfig, t: TensorConfig): number[] {
  return config.maxBatchSize > 0 ? [-1, ...t.dims] : [...t.dims];
}

/** What GET /v2/models/{name} answers, as Triton does for an ONNX model. */
export function modelMetadata(config: ModelConfig, versions: string[]): ModelMetadata {
  const describe = (t: TensorConfig): TensorMetadata => ({ name: t.name, datatype: t.datatype, shape: wireShape(config, t) });
  return { name: config.name, versions, platform: 'onnxruntime_onnx', inputs: config.inputs.map(describe), outputs: config.outputs.map(describe) };
}

/**
 * The card of one version: models/<name>/<version>/card.json if there is one (a version rolled
 * out beside the others brings its own), else models/<name>/card.json when that describes this
 * version. Triton ignores both files.
 */
export function readVersionCard(repo: string, name: string, version: string): ModelCard | undefined {
  for (const file of [path.join(repo, name, version, 'card.json'), path.join(repo, name, 'card.json')]) {
    let card: ModelCard;
    try {
      card = JSON.parse(fs.readFileSync(file, 'utf8')) as ModelCard;
    } catch {
      continue;
    }
    if (card.name === name && card.version === version) return card;
  }
  return undefined;
}
