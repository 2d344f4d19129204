/** The protobuf text-format reader and the typed reading of Triton's config.pbtxt. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PbtxtError, parsePbtxt } from '../../src/oip/pbtxt';
import { RepositoryError, modelMetadata, parseModelConfig, readVersionCard, servedVersions, versionsOnDisk } from '../../src/oip/repository';

describe('parsePbtxt', () => {
  it('reads fields, nested messages (with or without colon, braces or angle brackets), lists, strings and comments', () => {
    const msg = parsePbtxt(`
      # a comment
      name: "m\\"x" 'y'
      max_batch_size: 8
      input [ { name: "a" data_type: TYPE_FP32 dims: [ -1, 3 ] reshape: { shape: [ ] } }, { name: "b" } ]
      version_policy < specific { versions: 1 versions: 3 } >
      flag: true; ratio: 1.5e2
    `);
    expect(msg.name).toEqual(['m"xy']);
    expect(msg.max_batch_size).toEqual([8]);
    expect(msg.input).toEqual([
      { name: ['a'], data_type: [{ ident: 'TYPE_FP32' }], dims: [-1, 3], reshape: [{ shape: [] }] },
      { name: ['b'] },
    ]);
    expect(msg.version_policy).toEqual([{ specific: [{ versions: [1, 3] }] }]);
    expect(msg.flag).toEqual([true]);
    expect(msg.ratio).toEqual([150]);
  });

  it.each([
    ['an unterminated string', 'name: "abc'],
    ['a missing colon before a scalar', 'name "abc"'],
    ['an unclosed message', 'input { name: "a"'],
    ['a stray character', 'name: @'],
    ['a list without separators', 'dims: [ 1 2 ]'],
  ])('rejects %s with the line number', (_what, text) => {
    expect(() => parsePbtxt(text)).toThrow(PbtxtError);
    expect(() => parsePbtxt(text)).toThrow(/line 1|end of file/);
  });
});

describe('parseModelConfig', () => {
  const valid = `name: "m" backend: "onnxruntime" max_batch_size: 4
    input [ { name: "review" data_type: TYPE_STRING dims: [ 1 ] reshape: { shape: [ ] } } ]
    output [ { name: "p" data_type: TYPE_FP32 dims: [ 2 ] } ]`;

  it('types a valid config; the default version policy is the latest version', () => {
    const c = parseModelConfig(valid, 'm');
    expect(c).toEqual({
      name: 'm',
      backend: 'onnxruntime',
      maxBatchSize: 4,
      inputs: [{ name: 'review', dataType: 'TYPE_STRING', datatype: 'BYTES', dims: [1], reshape: [] }],
      outputs: [{ name: 'p', dataType: 'TYPE_FP32', datatype: 'FP32', dims: [2], reshape: undefined }],
      versionPolicy: { kind: 'latest', count: 1 },
    });
    expect(modelMetadata(c, ['3'])).toEqual({
      name: 'm',
      versions: ['3'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'review', datatype: 'BYTES', shape: [-1, 1] }],
      outputs: [{ name: 'p', datatype: 'FP32', shape: [-1, 2] }],
    });
  });

  it.each([
    ['another folder name', valid.replace('name: "m"', 'name: "other"'), /folder's name/],
    ['another backend', valid.replace('"onnxruntime"', '"pytorch"'), /backend "pytorch"/],
    ['a data type this server cannot convert', valid.replace('TYPE_FP32', 'TYPE_FP16'), /TYPE_FP16/],
    ['empty dims', valid.replace('dims: [ 2 ]', 'dims: [ ]'), /dims must not be empty/],
    ['a zero dimension', valid.replace('dims: [ 2 ]', 'dims: [ 0 ]'), /positive/],
    ['a reshape of another size', valid.replace('reshape: { shape: [ ] }', 'reshape: { shape: [ 2 ] }'), /does not hold/],
    ['a negative max_batch_size', valid.replace('max_batch_size: 4', 'max_batch_size: -1'), /max_batch_size/],
    ['no outputs', valid.replace(/\n\s*output.*$/, ''), /at least one input and one output/],
    ['bad syntax', 'name: "m" input [', /config\.pbtxt/],
  ])('refuses %s, naming the file and the problem', (_what, text, message) => {
    expect(() => parseModelConfig(text, 'm')).toThrow(RepositoryError);
    expect(() => parseModelConfig(text, 'm')).toThrow(message);
  });

  it('applies the version policies to the version folders on disk', () => {
    const c = parseModelConfig(valid, 'm');
    expect(servedVersions(c, ['1', '2', '10'])).toEqual(['10']);
    expect(servedVersions({ ...c, versionPolicy: { kind: 'latest', count: 2 } }, ['1', '2', '10'])).toEqual(['2', '10']);
    expect(servedVersions({ ...c, versionPolicy: { kind: 'specific', versions: ['2'] } }, ['1', '2', '10'])).toEqual(['2']);
    expect(servedVersions({ ...c, versionPolicy: { kind: 'all' } }, ['1', '2'])).toEqual(['1', '2']);
  });
});

describe('the repository on disk', () => {
  it('finds numbered version folders holding model.onnx, in numeric order, and the card of each version', () => {
    const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'repo-'));
    try {
      for (const v of ['1', '2', '10', 'latest']) {
        fs.mkdirSync(path.join(repo, 'm', v), { recursive: true });
        fs.writeFileSync(path.join(repo, 'm', v, 'model.onnx'), '');
      }
      fs.mkdirSync(path.join(repo, 'm', '11')); // no model.onnx
      expect(versionsOnDisk(repo, 'm')).toEqual(['1', '2', '10']);
      fs.writeFileSync(path.join(repo, 'm', 'card.json'), JSON.stringify({ name: 'm', version: '2' }));
      fs.writeFileSync(path.join(repo, 'm', '10', 'card.json'), JSON.stringify({ name: 'm', version: '10' }));
      expect(readVersionCard(repo, 'm', '2')).toEqual({ name: 'm', version: '2' });
      expect(readVersionCard(repo, 'm', '10')).toEqual({ name: 'm', version: '10' });
      expect(readVersionCard(repo, 'm', '1')).toBeUndefined();
    } finally {
      fs.rmSync(repo, { recursive: true, force: true });
    }
  });
});
