/**
 * A model that is almost, but not quite, sure (it answers 0.99995): the page without JavaScript
 * never shows "100.0 %" (nor "0.0 %" for the other class), in the statement, the meters or the
 * percentages beside them; it shows "> 99.9 %". The page script prints from the same core
 * (src/core/format.ts); tests/e2e/page.test.ts checks the page with JavaScript on. The posts ask
 * for no explanation (?explain=0): this backend answers probabilities only.
 */
import request from 'supertest';
import type { NamedTensors } from '../../src/inference/backend';
import { buildApp, cellImage } from '../helpers/app';
import { FakeBackend } from '../helpers/fake-backend';

/** The fake backend, except that both classifiers put 0.99995 on their first class. */
class AlmostSureBackend extends FakeBackend {
  override async infer(model: string, inputs: NamedTensors): Promise<NamedTensors> {
    if (model !== 'malaria' && model !== 'sentiment') return super.infer(model, inputs);
    this.calls++;
    return { probabilities: { type: 'float32', dims: [1, 2], data: Float32Array.of(0.99995, 0.00005) } };
  }
}

let ctx: Awaited<ReturnType<typeof buildApp<AlmostSureBackend>>>;
beforeAll(async () => {
  ctx = await buildApp({ backend: new AlmostSureBackend() });
});

/** The result box's text pieces: statement, meters' fallback text, percentages. */
function resultTexts(html: string, model: string): string[] {
  const box = new RegExp(`<div class="result" id="${model}-result"[^>]*>([\\s\\S]*?)</div>`).exec(html)?.[1] ?? '';
  return [...box.matchAll(/<(p class="prediction"|meter[^>]*|span class="pct")>([^<]*)</g)].map((m) => m[2] as string);
}

describe('a model answering 0.99995, page without JavaScript', () => {
  it('POST /predict/malaria: "> 99.9 %" in the statement, meter and percentage; never "100.0 %" or "0.0 %"', async () => {
    const res = await request(ctx.app)
      .post('/predict/malaria?explain=0')
      .attach('image', await cellImage('png'), 'cell.png');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(resultTexts(res.text, 'malaria')).toEqual([
      'This cell looks parasitized (&gt; 99.9 % confidence).',
      '&gt; 99.9 %',
      '&gt; 99.9 %',
      '&lt; 0.1 %',
      '&lt; 0.1 %',
    ]);
    expect(res.text).not.toContain('100.0 %');
    expect(res.text).not.toMatch(/>0\.0 %/);
  });

  it('POST /predict/sentiment: the same, for the review card', async () => {
    const res = await request(ctx.app).post('/predict/sentiment?explain=0').type('form').send({ review: 'Fine.' });
    expect(res.status).toBe(200);
    expect(resultTexts(res.text, 'sentiment')).toEqual([
      'This review is negative (&gt; 99.9 % confidence).',
      '&gt; 99.9 %',
      '&gt; 99.9 %',
      '&lt; 0.1 %',
      '&lt; 0.1 %',
    ]);
    expect(res.text).toContain('99.9 %');
    expect(res.text).not.toContain('100.0 %');
  });

  it('POST /api/predict/sentiment: the confidence is below 1 and the statement says "> 99.9 %"', async () => {
    const res = await request(ctx.app).post('/api/predict/sentiment').send({ review: 'Fine.' });
    expect(res.status).toBe(200);
    expect(res.body.confidence).toBeLessThan(1);
    expect(res.body.statement).toBe('This review is negative (> 99.9 % confidence).');
  });
});
