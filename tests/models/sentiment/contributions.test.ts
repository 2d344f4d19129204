/**
 * The sentiment graph's explanation outputs (issue 25, "Why this answer"), in every committed
 * version, run in onnxruntime-node directly:
 *   contributions     float32 [N, 3, T]  [n, k, i]: the (k+1)-gram of tokens i..i+k of review n, its share of
 *                                        the calibrated logit (0 where not formed or not in the table)
 *   contribution_bias float32 [N]        bias / temperature
 * They are exact: sigmoid(bias + the sum of a review's contributions) is its positive probability
 * before the graph clips it to the confidence cap. The input `explain` (bool [N]) asks for them per
 * review: with no flag set the nodes do not run and `contributions` is all zeros; either way, and
 * whatever is fetched, `probabilities` stay bit for bit the same.
 * (training/sentiment_graph.py explanation() builds the nodes.)
 */
import fs from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';

const MODEL_DIR = path.join(__dirname, '..', '..', '..', 'models', 'sentiment');
const VERSIONS = fs.readdirSync(MODEL_DIR).filter((d) => /^\d+$/.test(d) && fs.existsSync(path.join(MODEL_DIR, d, 'model.onnx')));
const CARD = JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'card.json'), 'utf8')) as { calibration: { confidence_cap: { cap: number } } };
/** The graph clips the positive probability to [1 - CAP, CAP]. */
const CAP = CARD.calibration.confidence_cap.cap;
const ALL = ['probabilities', 'contributions', 'contribution_bias'];

const LONG = 'The plot drags, but the acting is superb and the score is wonderful. '.repeat(30);
const REVIEWS = [
  '!!!', // no token at all
  'great', // one token
  'awful',
  'bad<br />movie was br fine', // 'br' breaks n-grams (see BR_REVIEW below)
  'bad movie was fine', // the same without the breaks
  'great great great great', // one unigram and one bigram, repeated
  'not bad, not bad at all. Not bad!', // repeated bigram and trigram
  'A warm, funny film. I loved it.',
  'A good <b>film</b> & more',
  'Très bien, 映画 😀',
  'zxqvw blorfen quuxly', // words the vocabulary does not know
  "I didn't like it and I won't watch it again; it wasn't worth the ticket.",
  'This was the worst movie I have ever seen. Terrible acting, awful script, a waste of time.',
  'One of the best films of the decade: moving, beautifully shot, and the cast is perfect.',
  'It was okay. Some parts were good, some were boring. 6/10.',
  'br br br',
  'Fine.',
  '10/10 would watch again',
  LONG,
  'a',
  'Meh.<br /><br />Not the worst, not the best.',
];
/** Tokens of REVIEWS[3]: bad br movie was br fine; the n-grams that touch a 'br' or run past the end. */
const BR_REVIEW = 3;
const NO_BR_REVIEW = 4;
const BR_NOT_FORMED: [number, number][] = [
  [0, 1], [0, 4], // the unigrams 'br'
  [1, 0], [1, 1], [1, 3], [1, 4], [1, 5], // every bigram but "movie was"
  [2, 0], [2, 1], [2, 2], [2, 3], [2, 4], [2, 5], // every trigram
];

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** Review n's [3, T] contributions as rows of numbers. */
function rows(c: ort.Tensor, n: number): number[][] {
  const [, , T] = c.dims as [number, number, number];
  const data = c.data as Float32Array;
  return [0, 1, 2].map((k) => Array.from(data.subarray((n * 3 + k) * T, (n * 3 + k + 1) * T)));
}

const sum = (xs: number[][]): number => xs.flat().reduce((a, b) => a + b, 0);

describe.each(VERSIONS)('sentiment version %s: contributions', (version) => {
  let session: ort.InferenceSession;
  let batch: ort.InferenceSession.OnnxValueMapType;
  /** `explain`: one flag for every review, or one per review. */
  const feeds = (reviews: string[], explain: boolean | boolean[] = true) => ({
    review: new ort.Tensor('string', reviews, [reviews.length]),
    explain: new ort.Tensor('bool', Uint8Array.from(reviews, (_, i) => ((Array.isArray(explain) ? explain[i] : explain) ? 1 : 0)), [reviews.length]),
  });

  beforeAll(async () => {
    session = await ort.InferenceSession.create(path.join(MODEL_DIR, version, 'model.onnx'));
    batch = await session.run(feeds(REVIEWS), ALL);
  });
  afterAll(async () => {
    await session.release();
  });

  it('declares the two explanation outputs beside probabilities, and their switch beside the review', () => {
    expect([...session.outputNames].sort()).toEqual([...ALL].sort());
    expect([...session.inputNames].sort()).toEqual(['explain', 'review']);
  });

  it('with no flag set: probabilities bit for bit the same, contributions all zeros [N, 3, T], the same bias', async () => {
    const off = await session.run(feeds(REVIEWS, false), ALL);
    expect(off.probabilities!.data).toEqual(batch.probabilities!.data);
    expect(off.contributions!.dims).toEqual(batch.contributions!.dims);
    expect((off.contributions!.data as Float32Array).every((x) => x === 0)).toBe(true);
    expect((batch.contributions!.data as Float32Array).some((x) => x !== 0)).toBe(true);
    expect(off.contribution_bias!.data).toEqual(batch.contribution_bias!.data);
    const alone = await session.run(feeds(REVIEWS, false), ['probabilities']);
    expect(alone.probabilities!.data).toEqual(batch.probabilities!.data);
  });

  it('with some flags set: the flagged reviews as in the full run, the others all zeros', async () => {
    const flags = REVIEWS.map((_, n) => n % 3 === 1);
    const mixed = await session.run(feeds(REVIEWS, flags), ALL);
    expect(mixed.probabilities!.data).toEqual(batch.probabilities!.data);
    expect(mixed.contributions!.dims).toEqual(batch.contributions!.dims);
    for (const [n, flag] of flags.entries()) {
      const got = rows(mixed.contributions!, n);
      if (flag) expect(got).toEqual(rows(batch.contributions!, n));
      else expect(got.flat().every((x) => x === 0)).toBe(true);
    }
  });

  it('leaves probabilities bit for bit as a run asking for probabilities alone', async () => {
    const alone = await session.run(feeds(REVIEWS), ['probabilities']);
    expect(Object.keys(alone)).toEqual(['probabilities']);
    expect(batch.probabilities!.data).toEqual(alone.probabilities!.data);
  });

  it('gives [N, 3, T] contributions and one bias per review', () => {
    const c = batch.contributions!;
    expect(c.dims.slice(0, 2)).toEqual([REVIEWS.length, 3]);
    expect(c.dims[2]).toBe(13 * 30); // the longest review's tokens: LONG's 13 words, 30 times
    expect(batch.contribution_bias!.dims).toEqual([REVIEWS.length]);
    const bias = batch.contribution_bias!.data as Float32Array;
    expect(new Set(bias).size).toBe(1);
  });

  it.each(REVIEWS.map((r, i) => [i, r.slice(0, 40)] as const))(
    'review %i (%s): sigmoid(bias + sum of contributions) is the unclipped positive probability',
    (n) => {
      const z = (batch.contribution_bias!.data as Float32Array)[n]! + sum(rows(batch.contributions!, n));
      const p = (batch.probabilities!.data as Float32Array)[2 * n + 1]!;
      if (p > 1 - CAP && p < CAP) expect(Math.abs(sigmoid(z) - p)).toBeLessThan(1e-5);
      else expect(p >= CAP ? sigmoid(z) >= CAP - 1e-6 : sigmoid(z) <= 1 - CAP + 1e-6).toBe(true);
    },
  );

  it('is all zeros for a review without tokens, whose probability is then the bias alone', () => {
    const n = REVIEWS.indexOf('!!!');
    expect(rows(batch.contributions!, n).flat().every((x) => x === 0)).toBe(true);
    const p = (batch.probabilities!.data as Float32Array)[2 * n + 1]!;
    expect(Math.abs(sigmoid((batch.contribution_bias!.data as Float32Array)[n]!) - p)).toBeLessThan(1e-6);
  });

  it("gives 0 to the n-grams that touch 'br' or run past the end, and not to the words between", () => {
    const r = rows(batch.contributions!, BR_REVIEW);
    for (const [k, i] of BR_NOT_FORMED) expect([k, i, r[k]![i]]).toEqual([k, i, 0]);
    for (const row of r) expect(row.slice(6).every((x) => x === 0)).toBe(true);
    // between the breaks n-grams are formed: 'bad' and 'movie was' are in the table ('movie' alone is not)
    expect(r[0]![0]).not.toBe(0);
    expect(r[1]![2]).not.toBe(0);
    // 'bad movie' is in the table too: without the break it counts
    expect(rows(batch.contributions!, NO_BR_REVIEW)[1]![0]).not.toBe(0);
  });

  it('spreads a repeated n-gram evenly over its occurrences', () => {
    const r = rows(batch.contributions!, REVIEWS.indexOf('great great great great'));
    expect(r[0]![0]).not.toBe(0);
    expect(r[0]!.slice(0, 4)).toEqual([r[0]![0], r[0]![0], r[0]![0], r[0]![0]]);
    expect(r[1]!.slice(0, 3)).toEqual([r[1]![0], r[1]![0], r[1]![0]]);
    expect(r[2]!.slice(0, 2)).toEqual([r[2]![0], r[2]![0]]);
    expect(r[0]!.slice(4).every((x) => x === 0) && r[1]!.slice(3).every((x) => x === 0)).toBe(true);
  });

  it('gives each review of a batch what it gets alone, padding columns 0', async () => {
    for (const [n, review] of REVIEWS.entries()) {
      const one = await session.run(feeds([review]), ALL);
      const T = one.contributions!.dims[2]!;
      const inBatch = rows(batch.contributions!, n);
      const alone = rows(one.contributions!, 0);
      for (let k = 0; k < 3; k++) {
        alone[k]!.forEach((x, i) => expect(inBatch[k]![i]).toBeCloseTo(x, 6));
        expect(inBatch[k]!.slice(T).every((x) => x === 0)).toBe(true);
      }
      expect(one.probabilities!.data).toEqual((batch.probabilities!.data as Float32Array).slice(2 * n, 2 * n + 2));
    }
  });
});
