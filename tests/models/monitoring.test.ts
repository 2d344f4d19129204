/**
 * Each model's input numbers (src/models/<name>/monitoring.ts) and the server's describer
 * (src/monitoring/features.ts): a synthetic image's size and brightness, reviews of known and
 * unknown words, x. The words the review model knows must be its served graph's: the vocabulary
 * file beside the graph (training/sentiment_vocabulary.py, Python's onnx) is compared here with
 * the graph's LabelEncoder read by a reader of ONNX's protobuf of this test's own.
 */
import fs from 'node:fs';
import path from 'node:path';
import { cardMonitoring } from '../../src/core/drift';
import { MODELS } from '../../src/models';
import { byteSum, meanChannel, malariaMonitoring } from '../../src/models/malaria/monitoring';
import { byName, type ModelDefinition } from '../../src/models/model';
import { regressionMonitoring } from '../../src/models/regression/monitoring';
import {
  BREAK_TOKENS,
  VOCABULARY_FILE,
  graphLowerCase,
  reviewLength,
  sentimentMonitoring,
  unknownShare,
  eachGraphWord,
} from '../../src/models/sentiment/monitoring';
import { loadDescriber, readVocabulary } from '../../src/monitoring/features';
import { readCard } from '../../src/predictors/registry';

const MODELS_DIR = path.join(__dirname, '..', '..', 'models');

describe('image monitoring: width, height and brightness of the decoded pixels', () => {
  it('a 2×1 image, one black and one white pixel: 2, 1 and 127.5', () => {
    const image = { width: 2, height: 1, pixels: new Uint8Array([0, 0, 0, 255, 255, 255]) };
    expect(malariaMonitoring.describe(image, {})).toEqual({ width: 2, height: 1, brightness: 127.5 });
  });

  it('a 3×2 image of channels 10, 20, 60: brightness 30, the mean over every channel of every pixel', () => {
    const pixels = new Uint8Array(3 * 2 * 3);
    for (let i = 0; i < pixels.length; i += 3) pixels.set([10, 20, 60], i);
    expect(malariaMonitoring.describe({ width: 3, height: 2, pixels }, {})).toEqual({
      width: 3,
      height: 2,
      brightness: 30,
    });
  });

  it('byteSum, four bytes at a time, is the plain sum at any offset and length (lanes folded before they overflow)', () => {
    const buffer = new Uint8Array(4 * 128 * 3 + 11).map((_, i) => (i * 7919) % 256);
    buffer.fill(255, 0, 4 * 300);
    for (const start of [0, 1, 2, 3]) {
      for (const length of [0, 1, 3, 4, 5, 512, 513, 1200, buffer.length - start]) {
        const bytes = buffer.subarray(start, start + length);
        expect(byteSum(bytes)).toBe(bytes.reduce((a, b) => a + b, 0));
      }
    }
  });

  it('an image without pixels has brightness 0, not NaN', () => {
    expect(meanChannel({ width: 0, height: 0, pixels: new Uint8Array(0) })).toBe(0);
  });
});

describe('number monitoring: x itself', () => {
  it.each([5, -3.25, 12345])('x = %p', (x) => {
    expect(regressionMonitoring.describe(x, {})).toEqual({ x });
  });
});

describe('review monitoring: length and the share of unknown words', () => {
  const vocabulary = new Set(['the', 'cat', 'sat', "don't", 'istanbul', 'οδοσ', 'café']);

  it('"The cat sat on a mat": 20 characters, 3 of 6 words unknown (upper case lowered as the graph does)', () => {
    expect(sentimentMonitoring.describe('The cat sat on a mat', { vocabulary })).toEqual({
      length: 20,
      unknown_share: 0.5,
    });
  });

  it('every word known: 0; none: 1', () => {
    expect(unknownShare('THE CAT. The cat!', vocabulary)).toBe(0);
    expect(unknownShare('zebra quagga', vocabulary)).toBe(1);
  });

  it('a review without words: 0', () => {
    expect(unknownShare('!!! ... ???', vocabulary)).toBe(0);
  });

  it("words as the graph splits them: inner apostrophes kept, 'café' one word, punctuation separates", () => {
    expect(unknownShare("Don't, café-cat!", vocabulary)).toBe(0);
    expect(unknownShare('cats', vocabulary)).toBe(1);
  });

  it('<br /> is formatting, neither known nor unknown: "cat<br /><br />zebra" is 1 of 2', () => {
    expect([...BREAK_TOKENS]).toEqual(['br']);
    expect(unknownShare('cat<br /><br />zebra', vocabulary)).toBe(0.5);
    expect(unknownShare('<br />', vocabulary)).toBe(0);
  });

  it('lower-cases as onnxruntime does: İ is "i", a final Σ is "σ"', () => {
    expect(graphLowerCase('İSTANBUL ΟΔΟΣ ς')).toBe('istanbul οδοσ ς');
    expect(unknownShare('İstanbul ΟΔΟΣ', vocabulary)).toBe(0);
  });

  it('length in code points, as MAX_REVIEW_CHARS counts: an emoji is one, a lone surrogate one', () => {
    expect(reviewLength('😀 ok')).toBe(4);
    expect(reviewLength('a\ud800b')).toBe(3);
    expect(reviewLength('plain')).toBe(5);
  });

  it('without the vocabulary: an error, not a made-up share', () => {
    expect(() => sentimentMonitoring.describe('the cat', {})).toThrow(/vocabulary/);
  });
});

/** Reads varints and length-delimited fields of a protobuf message: enough of ONNX's format to find a node's attributes. */
function* fields(
  buf: Buffer,
  start = 0,
  end = buf.length,
): Generator<{ field: number; wire: number; value: number | Buffer }> {
  let at = start;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = buf[at++] as number;
      result += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return result;
      shift += 7;
    }
  };
  while (at < end) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) yield { field, wire, value: varint() };
    else if (wire === 2) {
      const length = varint();
      yield { field, wire, value: buf.subarray(at, at + length) };
      at += length;
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else throw new Error(`protobuf wire type ${wire} at ${at}`);
  }
}

/** The LabelEncoder of an ONNX graph (ModelProto.graph 7 → GraphProto.node 1 → NodeProto.op_type 4, attribute 5): its string keys and int64 values. */
function labelEncoder(file: string): { keys: string[]; values: number[] } {
  const model = fs.readFileSync(file);
  const graph = [...fields(model)].find((f) => f.field === 7)?.value as Buffer;
  const found: { keys: string[]; values: number[] }[] = [];
  for (const node of fields(graph)) {
    if (node.field !== 1) continue;
    const parts = [...fields(node.value as Buffer)];
    if (parts.find((p) => p.field === 4)?.value.toString() !== 'LabelEncoder') continue;
    const entry = { keys: [] as string[], values: [] as number[] };
    for (const attr of parts.filter((p) => p.field === 5)) {
      const a = [...fields(attr.value as Buffer)];
      const name = a.find((p) => p.field === 1)?.value.toString();
      // AttributeProto: strings 9 (repeated bytes), ints 8 (repeated int64, packed or not).
      if (name === 'keys_strings')
        entry.keys = a.filter((p) => p.field === 9).map((p) => (p.value as Buffer).toString('utf8'));
      if (name === 'values_int64s') {
        for (const p of a.filter((q) => q.field === 8)) {
          if (typeof p.value === 'number') entry.values.push(p.value);
          else for (const v of fields(p.value, 0, p.value.length)) entry.values.push(v.value as number);
        }
      }
    }
    found.push(entry);
  }
  if (found.length !== 1) throw new Error(`${file}: ${found.length} LabelEncoders`);
  return found[0] as { keys: string[]; values: number[] };
}

/** An int64 -1 as a protobuf varint reads as 2^64 − 1 (beyond a double's precision): anything that large is negative. */
const asInt64 = (v: number): number => (v >= 2 ** 63 ? -1 : v);

describe("the review model's vocabulary is its served graph's", () => {
  const card = readCard(MODELS_DIR, 'sentiment');
  const versions = fs
    .readdirSync(path.join(MODELS_DIR, 'sentiment'))
    .filter((v) => fs.existsSync(path.join(MODELS_DIR, 'sentiment', v, 'model.onnx')));

  it("the served version (the card's) has a vocabulary file", () => {
    expect(versions).toContain(card.version);
    expect(fs.existsSync(path.join(MODELS_DIR, 'sentiment', card.version, VOCABULARY_FILE))).toBe(true);
  });

  it.each(versions)(
    "version %s: the file is the LabelEncoder's words in id order; its other keys are the padding and the break tokens",
    async (version) => {
      const { keys, values } = labelEncoder(path.join(MODELS_DIR, 'sentiment', version, 'model.onnx'));
      expect(values).toHaveLength(keys.length);
      const ids = values.map(asInt64);
      const words = keys
        .map((k, i) => ({ k, id: ids[i] as number }))
        .filter((w) => w.id >= 1)
        .sort((a, b) => a.id - b.id);
      expect(words.map((w) => w.id)).toEqual(words.map((_, i) => i + 1));
      expect(words.length).toBeGreaterThan(10_000);
      const file = fs.readFileSync(path.join(MODELS_DIR, 'sentiment', version, VOCABULARY_FILE), 'utf8');
      expect(file).toBe(words.map((w) => `${w.k}\n`).join(''));
      const others = keys.filter((_, i) => (ids[i] as number) < 1).sort();
      // '#' is the Tokenizer's padding (it cannot be a word); the rest are what <br /> tokenises to.
      expect(others).toEqual(['#', ...BREAK_TOKENS].sort());
      expect((await readVocabulary(path.join(MODELS_DIR, 'sentiment', version, VOCABULARY_FILE))).size).toBe(
        words.length,
      );
    },
  );
});

describe("loadDescriber: every model of the table, with its served version's files", () => {
  const cards = MODELS.map((m) => readCard(MODELS_DIR, m.name));

  it("describes each model's sample input with exactly its features, finite numbers", async () => {
    const describer = await loadDescriber(MODELS, MODELS_DIR, cards);
    const samples: Record<string, unknown> = {
      regression: 2.5,
      malaria: { width: 1, height: 1, pixels: new Uint8Array([30, 60, 90]) },
      sentiment: 'A wonderful film; the acting is superb. Xyzzyplugh!',
    };
    for (const m of MODELS) {
      const described = describer.describe(m.name, samples[m.name]);
      expect(Object.keys(described).sort()).toEqual(
        describer
          .features(m.name)
          .map((f) => f.name)
          .sort(),
      );
      for (const v of Object.values(described)) expect(Number.isFinite(v)).toBe(true);
    }
    expect(describer.describe('malaria', samples.malaria)).toEqual({ width: 1, height: 1, brightness: 60 });
    // "xyzzyplugh" is the one word of eight the model does not know.
    expect(describer.describe('sentiment', samples.sentiment)).toEqual({ length: 51, unknown_share: 1 / 8 });
  });

  it('an unknown model is an error; a model without monitoring is described by nothing', async () => {
    const describer = await loadDescriber(MODELS, MODELS_DIR, cards);
    expect(() => describer.describe('nope', 1)).toThrow(/no model "nope"/);
    const regression = byName(MODELS, 'regression') as ModelDefinition;
    const bare = await loadDescriber([{ ...regression, monitoring: undefined }], MODELS_DIR, []);
    expect(bare.describe('regression', 1)).toEqual({});
    expect(bare.features('regression')).toEqual([]);
  });

  it('a version without its vocabulary file: the error names the file', async () => {
    const missing = cards.map((c) => (c.name === 'sentiment' ? { ...c, version: '999' } : c));
    await expect(loadDescriber(MODELS, MODELS_DIR, missing)).rejects.toThrow(/999.vocabulary\.txt/);
  });

  it.each(MODELS.map((m) => m.name))(
    "%s: the card's monitoring section has a reference for each of its features (training/monitoring-reference.ts)",
    (name) => {
      const definition = byName(MODELS, name);
      const section = cardMonitoring(readCard(MODELS_DIR, name));
      expect(section).not.toBeNull();
      expect(Object.keys(section?.features ?? {}).sort()).toEqual(
        (definition?.monitoring?.features ?? []).map((f) => f.name).sort(),
      );
      if (definition?.output.kind === 'classification') expect(section?.confidence?.split).toBe('validation');
    },
  );
});

describe("a review's unknown share, ASCII fast path", () => {
  it('equals the share counted with the pattern and a Set, on 3,000 random ASCII texts', () => {
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const alphabet = "abZ09' .,!-<>/\tbr'x7Y";
    const pick = (len: number): string => Array.from({ length: len }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
    // A vocabulary of short words of the same letters, so that texts hit it often.
    const vocabulary = new Set(Array.from({ length: 40 }, () => pick(1 + Math.floor(random() * 3)).replace(/[^a-z0-9']/g, 'a')));
    for (let n = 0; n < 3000; n++) {
      const text = pick(Math.floor(random() * 60));
      let words = 0;
      let unknown = 0;
      eachGraphWord(text, (w) => {
        if (w === 'br') return;
        words++;
        if (!vocabulary.has(w)) unknown++;
      });
      expect(unknownShare(text, vocabulary)).toBe(words === 0 ? 0 : unknown / words);
    }
  });
});
