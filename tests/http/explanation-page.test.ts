/**
 * "Why this answer" on the page drawn by the server (issue 25), with the real models: a review's
 * words marked in the review as sent, a single cell's map over its picture, and a map in each row
 * of the multi-image table when asked for (?explain=1). All of it works without JavaScript.
 */
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { copyExampleImages, dataDirOf } from '../../src/build/examples';
import { buildApp, cellImage, realBackend } from '../helpers/app';

const ROOT = path.join(__dirname, '..', '..');
/** The example cells come from the data set, as the build copies them; without it their tests are skipped. */
const HAVE_DATA = fs.existsSync(path.join(dataDirOf(ROOT), 'malaria'));

let ctx: Awaited<ReturnType<typeof buildApp>>;
beforeAll(async () => {
  if (HAVE_DATA) expect(copyExampleImages(ROOT)).toHaveLength(3);
  ctx = await buildApp({ backend: realBackend() });
});
afterAll(() => ctx.registry.close());

const unescape = (html: string): string =>
  html
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#34;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&');

/** The `data-explanation` section of a page, or null. */
const section = (html: string): { kind: string; html: string } | null => {
  // From the box to the end of the card (its own end is a </div> among others).
  const m = /<div class="explanation" data-explanation="([^"]+)"[\s\S]*?<\/section>/.exec(html);
  return m ? { kind: m[1] as string, html: m[0] } : null;
};

/** The marked review: its marks (text, side, weight) and its text as a sighted reader sees it. */
function markedReview(html: string): { text: string; marks: Array<{ text: string; side: string; weight: number }> } {
  const review = /<p class="why-review">([\s\S]*?)<\/p>/.exec(html)?.[1] ?? '';
  const marks = [
    ...review.matchAll(
      /<mark class="why-word (positive|negative) l\d" data-weight="([^"]+)">([^<]*)<span class="visually-hidden"> \(towards (\w+)\)<\/span><\/mark>/g,
    ),
  ].map((m) => {
    expect(m[4]).toBe(m[1]); // the direction in words is the side's
    return { side: m[1] as string, weight: Number(m[2]), text: unescape(m[3] as string) };
  });
  const text = unescape(review.replace(/<span class="visually-hidden">[^<]*<\/span>/g, '').replace(/<[^>]+>/g, ''));
  return { text, marks };
}

const REVIEW =
  'The acting was wooden & the plot made no sense,\r\nbut the soundtrack was <wonderful> and I loved the ending.';

describe('POST /predict/sentiment (the form, no JavaScript)', () => {
  it('shows the review with its words marked, each with its weight and direction, and the strongest of each side', async () => {
    const res = await request(ctx.app).post('/predict/sentiment').type('form').send({ review: REVIEW });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const why = section(res.text);
    expect(why?.kind).toBe('review');
    const { text, marks } = markedReview(why?.html ?? '');
    expect(text).toBe(REVIEW);
    expect(marks.length).toBeGreaterThan(3);
    for (const m of marks) {
      expect(REVIEW).toContain(m.text);
      expect(m.weight).not.toBe(0);
      expect(m.side).toBe(m.weight > 0 ? 'positive' : 'negative');
    }
    expect(marks.find((m) => m.text === 'wooden')?.side).toBe('negative');
    expect(marks.find((m) => m.text === 'wonderful')?.side).toBe('positive');
    expect(why?.html).toMatch(
      /<h4>Words that pushed towards positive<\/h4>\s*<ol>\s*<li><mark class="why-word positive l4" data-weight="0\.\d+">wonderful<\/mark>/,
    );
    expect(why?.html).toMatch(
      /<h4>Words that pushed towards negative<\/h4>\s*<ol>\s*<li><mark class="why-word negative l4" data-weight="-0\.\d+">wooden<\/mark>/,
    );
  });

  it('shows no explanation with ?explain=0, and the answer is the same', async () => {
    const plain = await request(ctx.app).post('/predict/sentiment?explain=0').type('form').send({ review: REVIEW });
    const explained = await request(ctx.app).post('/predict/sentiment').type('form').send({ review: REVIEW });
    expect(plain.status).toBe(200);
    expect(plain.text).not.toContain('data-explanation');
    expect(plain.text).not.toContain('data-weight');
    const statement = (html: string) => /<p class="prediction">([^<]*)<\/p>/.exec(html)?.[1];
    expect(statement(plain.text)).toBe(statement(explained.text));
  });

  it('refuses a bad explain value with a 400 page', async () => {
    const res = await request(ctx.app).post('/predict/sentiment?explain=maybe').type('form').send({ review: REVIEW });
    expect(res.status).toBe(400);
    expect(res.text).not.toContain('data-explanation');
  });

  it('leaves the page as it was for a GET: no explanation anywhere', async () => {
    const res = await request(ctx.app).get('/');
    expect(res.text).not.toContain('data-explanation');
    expect(res.text).toContain('formaction="/predict/malaria?explain=1"');
  });
});

describe('POST /predict/malaria (the form, no JavaScript)', () => {
  it('draws the map over the picture of a single cell, with a legend and the map in words', async () => {
    const res = await request(ctx.app)
      .post('/predict/malaria')
      .attach('image', await cellImage('png', { parasite: true }), 'cell.png');
    expect(res.status).toBe(200);
    const why = section(res.text);
    expect(why?.kind).toBe('cell');
    const html = why?.html ?? '';
    expect(html).toMatch(
      /<span class="why-map"><img src="data:image\/jpeg;base64,[A-Za-z0-9+/=]+" alt="[^"]+"><svg class="why-grid" aria-hidden="true"/,
    );
    const rects = [
      ...html.matchAll(
        /<rect class="(parasitized|uninfected)( top10)?" x="([\d.]+)%" y="([\d.]+)%" width="([\d.]+)%" height="([\d.]+)%" fill-opacity="([\d.]+)" data-weight="(-?[\d.e-]+)"\/>/g,
      ),
    ];
    expect(rects.length).toBeGreaterThan(0);
    for (const r of rects) {
      expect(Number(r[3]) + Number(r[5])).toBeLessThanOrEqual(100.01);
      expect(Number(r[4]) + Number(r[6])).toBeLessThanOrEqual(100.01);
      expect(r[1]).toBe(Number(r[8]) > 0 ? 'parasitized' : 'uninfected');
    }
    expect(html).toMatch(
      /<p class="why-summary">(The strongest evidence for parasitized is in the [a-z ]+ of the image|No part of the image adds evidence for parasitized)\.<\/p>/,
    );
    expect(html).toContain('class="why-legend"');
  });

  it('draws no map with ?explain=0', async () => {
    const res = await request(ctx.app)
      .post('/predict/malaria?explain=0')
      .attach('image', await cellImage('png'), 'cell.png');
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('data-explanation');
  });

  it('draws a map over the thumbnail in every row of the table when several cells are sent with ?explain=1', async () => {
    const post = request(ctx.app).post('/predict/malaria?explain=1');
    for (const [i, parasite] of [true, false, true].entries())
      post.attach('image', await cellImage('png', { parasite }), `cell ${i}.png`);
    const res = await post;
    expect(res.status).toBe(200);
    const rows = [...res.text.matchAll(/<tr class="batch-row[^"]*" data-index="\d+"[\s\S]*?<\/tr>/g)].map((m) => m[0]);
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      expect(row).toMatch(
        /<td class="thumb"><span class="why-map"><img src="data:image\/jpeg;base64,[^"]+" alt=""><svg class="why-grid"[^>]*>(<rect [^>]+\/>)+<\/svg><\/span><span class="visually-hidden">[^<]+<\/span><\/td>/,
      );
    }
  });

  it('draws no maps in the table when several cells are sent without asking', async () => {
    const post = request(ctx.app).post('/predict/malaria');
    for (const i of [0, 1]) post.attach('image', await cellImage('png'), `cell ${i}.png`);
    const res = await post;
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/<tr class="batch-row/);
    expect(res.text).not.toContain('class="why-map');
  });
});

(HAVE_DATA ? describe : describe.skip)('POST /predict/malaria/example (the example cells, one click, no JavaScript)', () => {
  it('offers the three example cells under the image form, as buttons of a form of their own', async () => {
    const res = await request(ctx.app).get('/');
    expect(res.status).toBe(200);
    const form = /<form action="\/predict\/malaria\/example"[\s\S]*?<\/form>/.exec(res.text)?.[0] ?? '';
    const values = [...form.matchAll(/name="example" value="([^"]+)"/g)].map((m) => m[1]);
    expect(values).toEqual(['examples/malaria/parasitized.webp', 'examples/malaria/uninfected.webp', 'examples/malaria/unsure.webp']);
    for (const value of values) {
      const file = await request(ctx.app).get(`/${value}`);
      expect(file.status).toBe(200);
      expect(file.headers['content-type']).toMatch(/^image\/webp/);
    }
  });

  it.each([
    ['examples/malaria/parasitized.webp', 'parasitized'],
    ['examples/malaria/uninfected.webp', 'uninfected'],
  ])('classifies %s as %s, with its map over its picture', async (example, label) => {
    const res = await request(ctx.app).post('/predict/malaria/example').type('form').send({ example });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toContain(`This cell looks ${label}`);
    const why = section(res.text);
    expect(why?.kind).toBe('cell');
    expect(why?.html).toMatch(/<img[^>]+src="data:image\/jpeg;base64,/);
  });

  it('answers 404 beside the form for anything but an example, and reads no other file', async () => {
    for (const example of ['../package.json', 'examples/malaria/nope.webp', '']) {
      const res = await request(ctx.app).post('/predict/malaria/example').type('form').send({ example });
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.text).toContain('No such example');
      expect(res.text).not.toContain('"name": "ml-forms"');
    }
  });
});
