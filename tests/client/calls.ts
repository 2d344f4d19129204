/**
 * A program written against a client generated from /openapi.json (openapi-typescript types +
 * openapi-fetch): tests/http/client.test.ts generates ./api.ts next to a copy of this file,
 * type-checks both strictly, then runs this against the app. It calls every endpoint once and
 * prints what it got, one JSON object per line. Not part of the project's own type check: ./api
 * exists only in the test's folder.
 */
import fs from 'node:fs';
import createClient from 'openapi-fetch';
import type { components, paths } from './api.js';

type Prediction = components['schemas']['RegressionPrediction'];
type Classification = components['schemas']['ClassificationPrediction'];

const [baseUrl = '', imagePath = ''] = process.argv.slice(2);
const client = createClient<paths>({ baseUrl });
const image = new Uint8Array(fs.readFileSync(imagePath));

const report = (call: string, status: number, summary: unknown): void => {
  console.log(JSON.stringify({ call, status, summary }));
};

const regression = await client.POST('/api/predict/regression', { body: { x: 5 } });
const value: Prediction['value'] | undefined = regression.data?.value;
report('predictRegression json', regression.response.status, value);

const form = await client.POST('/api/predict/regression', {
  body: { x: '5' },
  headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  bodySerializer: (body) => new URLSearchParams({ x: String(body.x) }).toString(),
});
report('predictRegression form', form.response.status, form.data?.value);

const bad = await client.POST('/api/predict/regression', { body: { x: 'five' } });
// The error is typed: its code is one of the codes this endpoint can answer, and no other.
type RegressionErrorCode = NonNullable<typeof bad.error>['error']['code'];
const code: RegressionErrorCode | undefined = bad.error?.error.code;
const expected: RegressionErrorCode = 'invalid_x';
// @ts-expect-error -- a sentiment error code is not one the regression endpoint answers
const foreign: RegressionErrorCode = 'missing_review';
report('predictRegression bad', bad.response.status, { code, expected, foreign });

// openapi-typescript types a binary field as string; the serializer sends the real bytes.
const multipart = await client.POST('/api/predict/malaria', {
  body: { image: 'cell.png' },
  bodySerializer: () => {
    const data = new FormData();
    data.append('image', new Blob([image], { type: 'image/png' }), 'cell.png');
    return data;
  },
});
const label: Classification['label'] | undefined = multipart.data?.label;
report('predictMalaria multipart', multipart.response.status, label);

const raw = await client.POST('/api/predict/malaria', {
  body: '',
  headers: { 'Content-Type': 'image/png' },
  bodySerializer: () => image,
});
report('predictMalaria raw', raw.response.status, raw.data?.confidence);

const sentiment = await client.POST('/api/predict/sentiment', { body: { review: 'A warm, funny film. I loved it.' } });
report('predictSentiment', sentiment.response.status, sentiment.data?.scores);

const models = await client.GET('/api/models');
report('listModels', models.response.status, models.data?.models.map((card) => `${card.name} ${card.version}`));

const health = await client.GET('/healthz');
report('health', health.response.status, health.data?.status);

const ready = await client.GET('/readyz');
report('readiness', ready.response.status, ready.data?.status);

const metrics = await client.GET('/metrics', { parseAs: 'text' });
report('metrics', metrics.response.status, typeof metrics.data === 'string' && metrics.data.includes('http_requests_total'));

const doc = await client.GET('/openapi.json');
report('openApiDocument', doc.response.status, doc.data?.openapi);

const docs = await client.GET('/docs', { parseAs: 'text' });
report('docs', docs.response.status, typeof docs.data === 'string' && docs.data.includes('API reference'));
