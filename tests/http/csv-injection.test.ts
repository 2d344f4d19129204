/**
 * CSV formula injection through the page (issue 22, finding 7): files posted with names a
 * spreadsheet would run, or with a right-to-left override inside, come back in the results table
 * without the override and in the "Download CSV" file with every such name escaped by a leading
 * "'", while the scores stay numbers.
 */
import request from 'supertest';
import type { Test } from 'supertest';
import { CsvRecords } from '../../src/batch/csv-records';
import { buildApp, cellImage } from '../helpers/app';
import { imagePartsBody } from '../helpers/multipart';

let ctx: Awaited<ReturnType<typeof buildApp>>;
beforeAll(async () => {
  ctx = await buildApp();
});

const NAMES = ['=HYPERLINK("http://x").png', "@SUM(1+1)*cmd|' /C calc'!A0.png", '+1.png', '-x.png', 'invoice\u202Egnp.png'];

const BOUNDARY = 'csv-injection-boundary';

/** The names as a browser sends them (quotes as %22), byte for byte: supertest would keep only what follows the last "/". */
const post = (bytes: Buffer, names = NAMES, path = '/predict/malaria'): Test =>
  request(ctx.app)
    .post(path)
    .set('Content-Type', `multipart/form-data; boundary=${BOUNDARY}`)
    .send(imagePartsBody(names.map((name) => ({ name: name.replaceAll('"', '%22'), bytes })), BOUNDARY));

/** The CSV the page links, as cells. */
function downloadedCsv(html: string): string[][] {
  const href = /<a class="csv" download="malaria-results.csv" href="data:text\/csv;charset=utf-8,([^"]*)">/.exec(html)?.[1];
  const csv = decodeURIComponent((href ?? '').replaceAll('&#39;', "'").replaceAll('&#34;', '"').replaceAll('&amp;', '&'));
  const parser = new CsvRecords();
  return [...parser.push(csv), ...parser.end()].map((r) => r.fields);
}

describe('POST /predict/malaria with files named like formulas', () => {
  it('the CSV download escapes each name with a leading quote and keeps the scores numbers', async () => {
    const res = await post(await cellImage('png', { size: 32 }));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const [header, ...rows] = downloadedCsv(res.text);
    expect(header).toEqual(['input', 'label', 'confidence', 'score_parasitized', 'score_uninfected', 'error']);
    expect(rows.map((r) => r[0])).toEqual([
      `'=HYPERLINK("http://x").png`,
      "'@SUM(1+1)*cmd|' /C calc'!A0.png",
      "'+1.png",
      "'-x.png",
      'invoicegnp.png',
    ]);
    for (const row of rows) {
      for (const cell of row) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
      expect(Number(row[2])).toBeGreaterThan(0);
    }
  });

  it('the results table shows the names without the right-to-left override', async () => {
    const res = await post(await cellImage('png', { size: 32 }));
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('\u202E');
    expect(res.text).toContain('data-file="invoicegnp.png"');
    expect(res.text).toContain('data-file="=HYPERLINK(&#34;http://x&#34;).png"');
  });
});

describe('POST /api/predict/malaria/batch with a name holding format characters', () => {
  it('answers the cleaned name', async () => {
    const res = await post(await cellImage('png', { size: 32 }), ['\uFEFFa\u200Bb\u202E.png'], '/api/predict/malaria/batch');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body.predictions[0].file).toBe('ab.png');
  });
});
