/**
 * Property-based tests against the real models: whatever random bytes, strings or numbers arrive,
 * the answer is a 200 or a 4xx with a JSON error — never a 5xx — and the app keeps serving.
 */
import fc from 'fast-check';
import request from 'supertest';
import type { Express } from 'express';
import { buildApp, realBackend } from '../helpers/app';

jest.setTimeout(120_000);

let app: Express;
let close: () => Promise<void>;
beforeAll(async () => {
  const built = await buildApp({ backend: realBackend() });
  app = built.app;
  close = () => built.registry.close();
});
afterAll(async () => close());

const notServerError = (res: request.Response): boolean => {
  if (res.status >= 500) return false;
  if (res.status >= 400) return typeof res.body?.error?.code === 'string' && typeof res.body?.error?.message === 'string';
  return res.status === 200;
};

const IMAGE_MAGIC = [
  [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
  [0xff, 0xd8, 0xff],
  [0x47, 0x49, 0x46, 0x38, 0x39, 0x61],
  [0x52, 0x49, 0x46, 0x46, 0, 0, 0, 0, 0x57, 0x45, 0x42, 0x50],
  [],
];

describe('random input never produces a 5xx', () => {
  it('random bytes as an image, with and without a real image signature', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...IMAGE_MAGIC), fc.uint8Array({ maxLength: 4096 }), async (magic, rest) => {
        const bytes = Buffer.concat([Buffer.from(magic), Buffer.from(rest)]);
        const res = await request(app).post('/api/predict/malaria').attach('image', bytes, 'x.png');
        return notServerError(res) && res.status !== 200;
      }),
      { numRuns: 150 },
    );
  });

  it('random strings as a review', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 200 })), async (review) => {
        const res = await request(app).post('/api/predict/sentiment').send({ review });
        if (!notServerError(res)) return false;
        if (res.status === 200) return Math.abs(res.body.scores.positive + res.body.scores.negative - 1) < 1e-9;
        return review.replaceAll('\u0000', ' ').trim() === '';
      }),
      { numRuns: 200 },
    );
  });

  it('random numbers and number-like strings as x', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.double(), fc.integer(), fc.string({ maxLength: 30 }), fc.constantFrom('1e309', '-0', '.', '+', 'e5', '5e', '١٢', '５')),
        async (x) => {
          const res = await request(app).post('/api/predict/regression').send({ x });
          if (!notServerError(res)) return false;
          return res.status !== 200 || Number.isFinite(res.body.value);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('random form bodies on the page routes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/predict/regression', '/predict/sentiment', '/predict/malaria'), fc.string({ maxLength: 200 }), async (path, body) => {
        const res = await request(app).post(path).set('Content-Type', 'application/x-www-form-urlencoded').send(body);
        return res.status < 500 && /^text\/html/.test(res.headers['content-type'] ?? '');
      }),
      { numRuns: 150 },
    );
  });
});
