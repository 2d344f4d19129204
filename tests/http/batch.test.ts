/**
 * Many images in one post: the batch API (POST /api/predict/malaria/batch) and the image form
 * posted with several files (POST /predict/malaria, the page drawn on the server). Fake backend,
 * so answers are exact; every per-file error is compared with what the single-image API answers
 * for the same file.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { Test } from 'supertest';
import type { NamedTensors } from '../../src/inference/backend';
import { buildApp, cellImage } from '../helpers/app';
import { FakeBackend } from '../helpers/fake-backend';
import { imagePartsBody } from '../helpers/multipart';
import { sleep } from '../helpers/async';

let ctx: Awaited<ReturnType<typeof buildApp>>;
beforeAll(async () => {
  ctx = await buildApp();
});

interface Part {
  name: string;
  bytes: Buffer;
}

/** Files that fail in different ways, and good ones between them. */
async function mixedFiles(): Promise<Part[]> {
  const png = await cellImage('png');
  return [
    { name: 'one.png', bytes: png },
    { name: 'truncated.png', bytes: png.subarray(0, 80) },
    { name: 'two.jpg', bytes: await cellImage('jpeg', { parasite: true }) },
    { name: 'notes.png', bytes: Buffer.from('just some text') },
    { name: 'empty.png', bytes: Buffer.alloc(0) },
    { name: 'three.webp', bytes: await cellImage('webp', { size: 90 }) },
  ];
}

const attachAll = (req: Test, parts: Part[], field = 'image'): Test =>
  parts.reduce((r, p) => r.attach(field, p.bytes, { filename: p.name, contentType: 'application/octet-stream' }), req);

/** What the single-image API answers for one file: the prediction, or the error object. */
async function singleAnswer(app: typeof ctx.app, part: Part): Promise<Record<string, unknown>> {
  const res = await request(app)
    .post('/api/predict/malaria')
    .attach('image', part.bytes, { filename: part.name, contentType: 'application/octet-stream' });
  return res.status === 200 ? res.body : { error: res.body.error };
}

/** Attribute values of every results-table row, in page order. */
function tableRows(html: string): Array<Record<string, string>> {
  const body = /<tbody id="malaria-batch-rows">([\s\S]*?)<\/tbody>/.exec(html)?.[1] ?? '';
  return [...body.matchAll(/<tr class="batch-row[^"]*"([^>]*)>/g)].map((m) =>
    Object.fromEntries(
      [...(m[1] as string).matchAll(/data-([\w-]+)="([^"]*)"/g)].map((a) => [a[1] as string, a[2] as string]),
    ),
  );
}

const expectJsonError = (res: request.Response, status: number, code: string): void => {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.body.error.code).toBe(code);
  expect(res.body.error.message).toMatch(/\w{3,}.*\w{3,}/);
};

const errorBesideForm = (html: string): string | null =>
  /<p class="error" id="malaria-error" role="alert">([^<]*)<\/p>/.exec(html)?.[1] ?? null;

/** The page is all there: the three contract forms, the image input kept as it was. */
const expectWholePage = (html: string): void => {
  expect(html).toMatch(/<form[^>]*action="\/predict\/regression"/);
  expect(html).toMatch(
    /<form[^>]*action="\/predict\/malaria"[^>]*enctype="multipart\/form-data"[\s\S]*?<input id="image" name="image" type="file"[^>]*multiple/,
  );
  expect(html).toMatch(/<form[^>]*action="\/predict\/sentiment"/);
  expect(html).toContain('</html>');
};

describe('POST /api/predict/malaria/batch', () => {
  it('answers every file in post order: the single-image API prediction, or its error, beside the file name', async () => {
    const parts = await mixedFiles();
    const res = await attachAll(request(ctx.app).post('/api/predict/malaria/batch'), parts);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json; charset=utf-8/);
    expect(Object.keys(res.body)).toEqual(['predictions']);
    const expected = [];
    for (const part of parts) expected.push({ file: part.name, ...(await singleAnswer(ctx.app, part)) });
    expect(res.body.predictions).toEqual(expected);
    // Good and bad files both present, so "a bad file never fails the others" is what was tested.
    expect(
      res.body.predictions.map((p: { label?: string; error?: { code: string } }) => p.label ?? p.error?.code),
    ).toEqual(['uninfected', 'invalid_image', 'uninfected', 'unsupported_image_type', 'empty_file', 'uninfected']);
  });

  it('sends one element per line, so a client can show each as it arrives', async () => {
    const parts = await mixedFiles();
    const res = await attachAll(request(ctx.app).post('/api/predict/malaria/batch'), parts);
    const lines = res.text.trimEnd().split('\n');
    expect(lines[0]).toBe('{"predictions":[');
    expect(lines[lines.length - 1]).toBe(']}');
    expect(lines.slice(1, -1).map((l) => JSON.parse(l.replace(/,$/, '')).file)).toEqual(parts.map((p) => p.name));
  });

  it('gives a file over the single-image size limit its own 413 error and classifies the rest', async () => {
    const { app } = await buildApp({ env: { MAX_UPLOAD_MB: '0.01' } });
    const big = { name: 'big.png', bytes: Buffer.alloc(20_000, 1) };
    const res = await attachAll(request(app).post('/api/predict/malaria/batch'), [
      { name: 'ok.png', bytes: await cellImage('png', { size: 32 }) },
      big,
    ]);
    expect(res.status).toBe(200);
    expect(res.body.predictions[0].label).toBe('uninfected');
    expect(res.body.predictions[1]).toEqual({ file: 'big.png', ...(await singleAnswer(app, big)) });
    expect(res.body.predictions[1].error.code).toBe('file_too_large');
  });

  it('classifies at most BATCH_CONCURRENCY images at once, through the same backend', async () => {
    const backend = new SlowBackend(15);
    const { app } = await buildApp({ backend, env: { BATCH_CONCURRENCY: '3' } });
    const png = await cellImage('png', { size: 40 });
    const parts = Array.from({ length: 12 }, (_, i) => ({ name: `c${i}.png`, bytes: png }));
    const res = await attachAll(request(app).post('/api/predict/malaria/batch'), parts);
    expect(res.status).toBe(200);
    expect(res.body.predictions).toHaveLength(12);
    expect(backend.calls).toBe(12);
    expect(backend.maxInFlight).toBeLessThanOrEqual(3);
    expect(backend.maxInFlight).toBeGreaterThan(1);
  });

  it('streams: the first answers arrive while later images are still being classified', async () => {
    const { app } = await buildApp({ backend: new SlowBackend(40), env: { BATCH_CONCURRENCY: '1' } });
    const png = await cellImage('png', { size: 24 });
    const parts = Array.from({ length: 6 }, (_, i) => ({ name: `c${i}.png`, bytes: png }));
    const { status, chunks } = await rawPost(app, '/api/predict/malaria/batch', parts, false);
    expect(status).toBe(200);
    const whole = chunks.map((c) => c.text).join('');
    expect(JSON.parse(whole).predictions).toHaveLength(6);
    const first = chunks.find((c) => c.text.includes('"file":"c0.png"')) as { at: number };
    const last = chunks.find((c) => c.text.includes('"file":"c5.png"')) as { at: number };
    // Five more images at 40 ms each, one at a time, came after the first answer.
    expect(last.at - first.at).toBeGreaterThanOrEqual(150);
  });

  it('is counted in /metrics under its own route label, with the model', async () => {
    const { app } = await buildApp();
    await request(app).post('/api/predict/malaria/batch').attach('image', await cellImage('png', { size: 16 }), 'a.png');
    await request(app).post('/api/predict/regression/batch').send({ x: 1 });
    const text = (await request(app).get('/metrics')).text;
    expect(text).toContain('http_requests_total{method="POST",route="/api/predict/:model/batch",model="malaria",status="200"} 1');
    expect(text).toContain('http_requests_total{method="POST",route="other",model="",status="404"} 1');
  });

  describe('whole-post problems get one error and no predictions', () => {
    it('101 images (the default limit is 100) → 413 too_many_images', async () => {
      const tiny = await cellImage('png', { size: 8 });
      const parts = Array.from({ length: 101 }, (_, i) => ({ name: `c${i}.png`, bytes: tiny }));
      const res = await attachAll(request(ctx.app).post('/api/predict/malaria/batch'), parts);
      expectJsonError(res, 413, 'too_many_images');
      expect(res.body.error.message).toContain('at most 100 images');
    });

    it('100 images are accepted', async () => {
      const tiny = await cellImage('png', { size: 8 });
      const parts = Array.from({ length: 100 }, (_, i) => ({ name: `c${i}.png`, bytes: tiny }));
      const res = await attachAll(request(ctx.app).post('/api/predict/malaria/batch'), parts);
      expect(res.status).toBe(200);
      expect(res.body.predictions).toHaveLength(100);
    });

    it('51 MB of images, each under the single-image limit (the default limit is 50 MB) → 413 upload_too_large', async () => {
      const parts = Array.from({ length: 11 }, (_, i) => ({
        name: `big${i}.png`,
        bytes: Buffer.alloc(Math.ceil((51 * 1024 * 1024) / 11), 1),
      }));
      const res = await attachAll(request(ctx.app).post('/api/predict/malaria/batch'), parts);
      expectJsonError(res, 413, 'upload_too_large');
      expect(res.body.error.message).toContain('50 MB');
    });

    it('a body over MAX_BATCH_MB sent without a Content-Length (chunked) → 413 once the limit is passed', async () => {
      const { app } = await buildApp({ env: { MAX_BATCH_MB: '0.05' } });
      const png = await cellImage('png', { size: 64 });
      const parts = Array.from({ length: 30 }, (_, i) => ({
        name: `c${i}.png`,
        bytes: Buffer.concat([png, Buffer.alloc(4000)]),
      }));
      const { status, body } = await rawPost(app, '/api/predict/malaria/batch', parts);
      expect(status).toBe(413);
      expect(JSON.parse(body).error.code).toBe('upload_too_large');
    });

    it('MAX_BATCH_FILES is honoured', async () => {
      const { app } = await buildApp({ env: { MAX_BATCH_FILES: '2' } });
      const png = await cellImage('png', { size: 8 });
      const res = await attachAll(
        request(app).post('/api/predict/malaria/batch'),
        [0, 1, 2].map((i) => ({ name: `${i}.png`, bytes: png })),
      );
      expectJsonError(res, 413, 'too_many_images');
    });

    it('no image → 400 missing_image', async () => {
      const res = await request(ctx.app).post('/api/predict/malaria/batch').field('note', 'hello');
      expectJsonError(res, 400, 'missing_image');
    });

    it('a form sent with no file chosen (one empty part, filename="") → 400 missing_image', async () => {
      const res = await request(ctx.app)
        .post('/api/predict/malaria/batch')
        .set('Content-Type', 'multipart/form-data; boundary=XyZ')
        .send(
          '--XyZ\r\nContent-Disposition: form-data; name="image"; filename=""\r\nContent-Type: application/octet-stream\r\n\r\n\r\n--XyZ--\r\n',
        );
      expectJsonError(res, 400, 'missing_image');
    });

    it('a file in another field → 400 unexpected_field', async () => {
      const res = await request(ctx.app)
        .post('/api/predict/malaria/batch')
        .attach('photo', await cellImage(), 'cell.png');
      expectJsonError(res, 400, 'unexpected_field');
    });

    it('not multipart → 415 unsupported_content_type', async () => {
      const res = await request(ctx.app)
        .post('/api/predict/malaria/batch')
        .set('Content-Type', 'image/png')
        .send(await cellImage());
      expectJsonError(res, 415, 'unsupported_content_type');
    });

    it('multipart cut off mid-file → 400 invalid_multipart', async () => {
      const res = await request(ctx.app)
        .post('/api/predict/malaria/batch')
        .set('Content-Type', 'multipart/form-data; boundary=XyZ')
        .send(
          '--XyZ\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG',
        );
      expectJsonError(res, 400, 'invalid_multipart');
    });

    it('keeps serving afterwards', async () => {
      const res = await request(ctx.app)
        .post('/api/predict/malaria')
        .attach('image', await cellImage(), 'cell.png');
      expect(res.status).toBe(200);
    });
  });
});

describe('POST /predict/malaria (the image form) with several files', () => {
  it('renders the results table: one row per file, least sure first, thumbnails, a summary that adds up', async () => {
    const parts = await mixedFiles();
    const res = await attachAll(request(ctx.app).post('/predict/malaria'), parts);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expectWholePage(res.text);
    const rows = tableRows(res.text);
    expect(rows).toHaveLength(6);
    // Unreadable first, in post order, then by confidence.
    expect(rows.map((r) => r.file)).toEqual([
      'truncated.png',
      'notes.png',
      'empty.png',
      ...rows.slice(3).map((r) => r.file),
    ]);
    const confidences = rows.slice(3).map((r) => Number(r.confidence));
    expect(confidences).toEqual([...confidences].sort((a, b) => a - b));
    for (const part of parts) {
      const row = rows.find((r) => r.file === part.name) as Record<string, string>;
      const single = await singleAnswer(ctx.app, part);
      if ('error' in single) expect(row.error).toBe((single.error as { code: string }).code);
      else expect([row.label, Number(row.confidence)]).toEqual([single.label, single.confidence]);
    }
    expect(res.text.match(/<img alt="" width="48" height="48" src="data:image\/jpeg;base64,[\w+/=]+">/g)).toHaveLength(
      3,
    );
    expect(res.text).toContain(
      '<span class="row-error">The PNG file could not be decoded. It may be truncated or damaged.</span>',
    );
    const summary = /<p class="batch-summary"[^>]*>([^<]*)<\/p>/.exec(res.text)?.[1];
    expect(summary).toBe('6 images: 0 parasitized, 3 uninfected, 3 unreadable.');
    expect(res.text).not.toMatch(/<p class="prediction">/);
  });

  it("links a CSV download with the batch command line's columns, one line per file in post order", async () => {
    const parts = await mixedFiles();
    const res = await attachAll(request(ctx.app).post('/predict/malaria'), parts);
    const href =
      /<a class="csv" download="malaria-results.csv" href="data:text\/csv;charset=utf-8,([^"]*)">Download CSV<\/a>/.exec(
        res.text,
      )?.[1];
    const csv = decodeURIComponent((href ?? '').replaceAll('&#39;', "'"));
    const lines = csv.split('\n');
    expect(lines[0]).toBe('input,label,confidence,score_parasitized,score_uninfected,error');
    expect(lines.slice(1, -1).map((l) => l.split(',')[0])).toEqual(parts.map((p) => p.name));
    expect(lines[2]).toBe(
      'truncated.png,,,,,invalid_image: The PNG file could not be decoded. It may be truncated or damaged.',
    );
    const one = await singleAnswer(ctx.app, parts[0] as Part);
    const scores = one.scores as Record<string, number>;
    expect(lines[1]).toBe(`one.png,${one.label},${one.confidence},${scores.parasitized},${scores.uninfected},`);
    expect(lines[lines.length - 1]).toBe('');
  });

  it('escapes file names', async () => {
    const png = await cellImage('png', { size: 16 });
    const res = await attachAll(request(ctx.app).post('/predict/malaria'), [
      { name: '<img src=x onerror=alert(1)>.png', bytes: png },
      { name: 'b".png', bytes: png },
    ]);
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('<img src=x');
    expect(res.text).toContain('data-file="&lt;img src=x onerror=alert(1)&gt;.png"');
    expect(res.text).toContain('data-file="b&#34;.png"');
  });

  it('one file still answers as the single-image form: the statement in .prediction, no table', async () => {
    const res = await request(ctx.app)
      .post('/predict/malaria')
      .attach('image', await cellImage('png'), 'only.png');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/<p class="prediction">This cell looks uninfected \(\d+\.\d % confidence\)\.<\/p>/);
    expect(tableRows(res.text)).toEqual([]);
    expect(res.text).toContain('Last upload: only.png');
  });

  it('one bad file still answers with its own status and the error beside the form', async () => {
    const res = await request(ctx.app)
      .post('/predict/malaria')
      .attach('image', Buffer.from('not an image'), 'notes.png');
    expect(res.status).toBe(415);
    expect(errorBesideForm(res.text)).toMatch(/not a PNG, JPEG, WebP or GIF image/);
    expect(res.text).toContain('Last upload: notes.png');
  });

  it('101 files → 413 with the message beside the form and the rest of the page intact', async () => {
    const tiny = await cellImage('png', { size: 8 });
    const parts = Array.from({ length: 101 }, (_, i) => ({ name: `c${i}.png`, bytes: tiny }));
    const res = await attachAll(request(ctx.app).post('/predict/malaria').set('Accept', 'text/html'), parts);
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(errorBesideForm(res.text)).toBe(
      'Send at most 100 images at once. Choose fewer and send the rest in another batch.',
    );
    expectWholePage(res.text);
    expect(tableRows(res.text)).toEqual([]);
  });

  it('51 MB → 413 with the message beside the form and the rest of the page intact', async () => {
    const parts = Array.from({ length: 11 }, (_, i) => ({
      name: `big${i}.png`,
      bytes: Buffer.alloc(Math.ceil((51 * 1024 * 1024) / 11), 1),
    }));
    const res = await attachAll(request(ctx.app).post('/predict/malaria').set('Accept', 'text/html'), parts);
    expect(res.status).toBe(413);
    expect(errorBesideForm(res.text)).toMatch(/more than 50 MB/);
    expectWholePage(res.text);
  });
});

/** A fake backend whose malaria inference takes `ms`, counting how many run at once. */
class SlowBackend extends FakeBackend {
  inFlight = 0;
  maxInFlight = 0;
  constructor(private readonly ms: number) {
    super();
  }
  override async infer(model: string, inputs: NamedTensors): Promise<NamedTensors> {
    if (model !== 'malaria') return super.infer(model, inputs);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await sleep(this.ms);
    this.inFlight--;
    return super.infer(model, inputs);
  }
}

/**
 * A multipart post through a real socket, with Transfer-Encoding: chunked (no Content-Length) or
 * not; the answer's chunks with the time each arrived.
 */
async function rawPost(
  app: typeof ctx.app,
  path: string,
  parts: Part[],
  chunked = true,
): Promise<{ status: number; body: string; chunks: Array<{ at: number; text: string }> }> {
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const boundary = 'rawBoundary42';
  const body = imagePartsBody(parts, boundary);
  const headers: Record<string, string> = {
    'content-type': `multipart/form-data; boundary=${boundary}`,
    accept: 'application/json',
  };
  if (!chunked) headers['content-length'] = String(body.length);
  try {
    return await new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers }, (res) => {
        const chunks: Array<{ at: number; text: string }> = [];
        res.setEncoding('utf8');
        res.on('data', (text: string) => chunks.push({ at: performance.now(), text }));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: chunks.map((c) => c.text).join(''), chunks }));
      });
      req.on('error', reject);
      // Chunked: sent in pieces, as a client streaming from disk would.
      if (chunked) for (let i = 0; i < body.length; i += 16_384) req.write(body.subarray(i, i + 16_384));
      req.end(chunked ? undefined : body);
    });
  } finally {
    server.close();
  }
}
