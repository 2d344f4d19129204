/**
 * Every models/<name>/config.pbtxt is one Triton's ONNX Runtime backend loads: backend
 * "onnxruntime", max_batch_size > 0, supported data types, and inputs and outputs that match the
 * ONNX graph of every version folder (names, types, shapes: the graph's first dimension is the
 * batch, free; the others are the config's dims, or its reshape where it has one). Read from the
 * graphs themselves through onnxruntime-node's session metadata, and against the cards, so a
 * retrain that changes a model keeps its config honest. training/common.py writes these files.
 */
import * as ort from 'onnxruntime-node';
import { signatureProblem } from '../../src/oip/signatures';
import {
  type ModelConfig,
  type TensorConfig,
  defaultVersion,
  modelMetadata,
  modelNames,
  onnxPath,
  readModelConfig,
  readVersionCard,
  servedVersions,
  versionsOnDisk,
} from '../../src/oip/repository';
import { readCard } from '../../src/predictors/registry';
import { MODELS_DIR } from '../helpers/app';

/** onnxruntime's tensor types and Triton's data types for them. */
const TRITON_TYPE: Record<string, string> = { float32: 'TYPE_FP32', uint8: 'TYPE_UINT8', string: 'TYPE_STRING', int64: 'TYPE_INT64', bool: 'TYPE_BOOL' };

/** Differences between a config tensor and the graph's, in words (empty when they agree). */
function differences(config: ModelConfig, declared: TensorConfig[], graph: readonly ort.InferenceSession.ValueMetadata[]): string[] {
  const out: string[] = [];
  const names = (xs: { name: string }[]): string[] => xs.map((x) => x.name).sort();
  if (JSON.stringify(names(declared)) !== JSON.stringify(names([...graph]))) out.push(`names ${names(declared)} vs graph ${names([...graph])}`);
  for (const t of declared) {
    const g = graph.find((x) => x.name === t.name);
    if (g === undefined || !g.isTensor) continue;
    if (TRITON_TYPE[g.type] !== t.dataType) out.push(`${t.name}: ${t.dataType} vs graph ${g.type}`);
    const shape = [...g.shape];
    const rest = config.maxBatchSize > 0 ? shape.slice(1) : shape;
    if (config.maxBatchSize > 0 && typeof shape[0] === 'number' && shape[0] !== -1) out.push(`${t.name}: the graph's first dimension is fixed (${shape[0]}), not a batch`);
    const model = t.reshape ?? t.dims;
    const agree = model.length === rest.length && rest.every((d, i) => (typeof d === 'number' && d >= 0 ? model[i] === d : model[i] === -1 || (model[i] as number) > 0));
    if (!agree) out.push(`${t.name}: ${t.reshape ? 'reshape' : 'dims'} [${model.join(', ')}] vs graph [${rest.join(', ')}] after the batch dimension`);
  }
  return out;
}

const MODELS = modelNames(MODELS_DIR);

it('finds a config.pbtxt in every model folder', () => {
  expect(MODELS).toEqual(expect.arrayContaining(['regression', 'malaria', 'sentiment']));
});

describe.each(MODELS)('models/%s', (name) => {
  const config = readModelConfig(MODELS_DIR, name);

  it('is a batching config for the ONNX Runtime backend, with data types Triton and this server share', () => {
    expect(config.backend).toBe('onnxruntime');
    expect(config.maxBatchSize).toBeGreaterThan(0);
    for (const t of [...config.inputs, ...config.outputs]) {
      expect(['TYPE_UINT8', 'TYPE_FP32', 'TYPE_STRING', 'TYPE_INT64', 'TYPE_BOOL']).toContain(t.dataType);
      expect(t.dims.length).toBeGreaterThan(0);
    }
  });

  it('serves every version folder on disk (the 8-bit version beside the float one)', () => {
    expect(servedVersions(config, versionsOnDisk(MODELS_DIR, name))).toEqual(versionsOnDisk(MODELS_DIR, name));
  });

  it.each(versionsOnDisk(MODELS_DIR, name))('matches the ONNX graph of version %s (names, types, shapes)', async (version) => {
    const session = await ort.InferenceSession.create(onnxPath(MODELS_DIR, name, version));
    try {
      expect(differences(config, config.inputs, session.inputMetadata)).toEqual([]);
      expect(differences(config, config.outputs, session.outputMetadata)).toEqual([]);
    } finally {
      await session.release();
    }
  });

  it("serves the version its card describes, and what it declares is what the card's predictor sends and reads", () => {
    const card = readCard(MODELS_DIR, name);
    const served = defaultVersion(MODELS_DIR, name, servedVersions(config, versionsOnDisk(MODELS_DIR, name)));
    expect(served).toBe(card.version);
    expect(readVersionCard(MODELS_DIR, name, card.version)).toEqual(card);
    const metadata = modelMetadata(config, [card.version]);
    const problems = [
      ...card.inputs.map((t) => signatureProblem(t, metadata.inputs.find((m) => m.name === t.name), 'input')),
      ...card.outputs.map((t) => signatureProblem(t, metadata.outputs.find((m) => m.name === t.name), 'output')),
    ].filter((p) => p !== null);
    expect(problems).toEqual([]);
  });
});
