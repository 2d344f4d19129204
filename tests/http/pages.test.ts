/** Page acceptance tests: form posts re-render the page with the statement, or the error beside the form. */
import request from 'supertest';
import { buildApp, cellImage } from '../helpers/app';

let ctx: Awaited<ReturnType<typeof buildApp>>;
beforeEach(async () => {
  ctx = await buildApp();
});

/** The text inside the element with class `prediction`, if any. */
const predictionText = (html: string): string | null => {
  const m = /<p class="prediction">([^<]*)<\/p>/.exec(html);
  return m ? (m[1] as string) : null;
};
const errorText = (html: string, model: string): string | null => {
  const m = new RegExp(`<p class="error" id="${model}-error" role="alert">([^<]*)</p>`).exec(html);
  return m ? (m[1] as string) : null;
};

describe('GET /', () => {
  it('renders the page with the three forms of the contract', async () => {
    const res = await request(ctx.app).get('/');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toMatch(/<html lang="en">/);
    expect(res.text).toMatch(/<form[^>]*action="\/predict\/regression"[^>]*>[\s\S]*?name="x"/);
    expect(res.text).toMatch(/<form[^>]*action="\/predict\/malaria"[^>]*enctype="multipart\/form-data"[^>]*>[\s\S]*?type="file"[^>]*name="image"|<form[^>]*action="\/predict\/malaria"[^>]*enctype="multipart\/form-data"[^>]*>[\s\S]*?name="image"[^>]*type="file"/);
    expect(res.text).toMatch(/<form[^>]*action="\/predict\/sentiment"[^>]*>[\s\S]*?<textarea[^>]*name="review"/);
    expect(predictionText(res.text)).toBeNull();
  });

  it("shows each model's measured quality from its card", async () => {
    const res = await request(ctx.app).get('/');
    expect(res.text).toMatch(/R² 0\.\d{3}/);
    expect(res.text).toMatch(/\d+\.\d % accuracy on [\d,]+ held-out cell images/);
    expect(res.text).toMatch(/\d+\.\d % accuracy on [\d,]+ held-out reviews/);
  });
});

describe('when a form is posted with valid input', () => {
  it('POST /predict/regression shows the predicted value and keeps x', async () => {
    const res = await request(ctx.app).post('/predict/regression').type('form').send('x=5');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(predictionText(res.text)).toBe('The predicted value for 5 is 11.00.');
    expect(res.text).toMatch(/name="x"[^>]*value="5"/);
  });

  it('POST /predict/malaria shows the label, confidence and a bar per class', async () => {
    const res = await request(ctx.app).post('/predict/malaria').attach('image', await cellImage('jpeg'), 'my cell.jpg');
    expect(res.status).toBe(200);
    expect(predictionText(res.text)).toMatch(/^This cell looks uninfected \(\d+\.\d % confidence\)\.$/);
    expect(res.text.match(/<meter /g)).toHaveLength(2);
    expect(res.text).toContain('my cell.jpg');
  });

  it('POST /predict/sentiment shows the sentiment and keeps the review', async () => {
    const res = await request(ctx.app).post('/predict/sentiment').type('form').send({ review: 'A good <b>film</b> & more' });
    expect(res.status).toBe(200);
    expect(predictionText(res.text)).toBe('This review is positive (90.0 % confidence).');
    expect(res.text).toContain('A good &lt;b&gt;film&lt;/b&gt; &amp; more</textarea>');
  });
});

describe('when a form is posted with bad input', () => {
  it('POST /predict/regression with a word answers 400 with the error beside the form and the input kept', async () => {
    const res = await request(ctx.app).post('/predict/regression').type('form').send('x=five');
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(errorText(res.text, 'regression')).toMatch(/must be a number/);
    expect(res.text).toMatch(/name="x"[^>]*value="five"/);
    expect(predictionText(res.text)).toBeNull();
  });

  it('POST /predict/regression with nothing answers 400 asking for a number', async () => {
    const res = await request(ctx.app).post('/predict/regression').type('form').send('');
    expect(res.status).toBe(400);
    expect(errorText(res.text, 'regression')).toMatch(/Enter a number/);
  });

  it('POST /predict/malaria without a file answers 400 beside the image form', async () => {
    const res = await request(ctx.app).post('/predict/malaria').field('x', '1');
    expect(res.status).toBe(400);
    expect(errorText(res.text, 'malaria')).toMatch(/Choose a cell image/);
    expect(errorText(res.text, 'regression')).toBeNull();
  });

  it('POST /predict/malaria with a text file answers 415 beside the image form', async () => {
    const res = await request(ctx.app).post('/predict/malaria').attach('image', Buffer.from('not an image'), 'notes.png');
    expect(res.status).toBe(415);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(errorText(res.text, 'malaria')).toMatch(/not a PNG, JPEG, WebP or GIF image/);
  });

  it('POST /predict/malaria over the size limit answers 413 beside the image form', async () => {
    const { app } = await buildApp({ env: { MAX_UPLOAD_MB: '0.01' } });
    const res = await request(app).post('/predict/malaria').attach('image', Buffer.alloc(20_000, 7), 'big.png');
    expect(res.status).toBe(413);
    expect(errorText(res.text, 'malaria')).toMatch(/larger than/);
  });

  it('POST /predict/sentiment with an empty review answers 400 beside the review form', async () => {
    const res = await request(ctx.app).post('/predict/sentiment').type('form').send('review=');
    expect(res.status).toBe(400);
    expect(errorText(res.text, 'sentiment')).toMatch(/empty/);
  });

  it('POST /predict/sentiment with an over-long review answers 413 and keeps the text', async () => {
    const review = 'word '.repeat(4001);
    const res = await request(ctx.app).post('/predict/sentiment').type('form').send({ review });
    expect(res.status).toBe(413);
    expect(errorText(res.text, 'sentiment')).toMatch(/the limit is 20,000/);
    expect(res.text).toContain(`${review}</textarea>`);
  });

  it('escapes user text echoed back in the page', async () => {
    const res = await request(ctx.app).post('/predict/regression').type('form').send({ x: '"><script>alert(1)</script>' });
    expect(res.status).toBe(400);
    expect(res.text).not.toContain('<script>alert(1)</script>');
    expect(res.text).toContain('&lt;script&gt;');
  });
});

describe('parts of the page rendered once and reused', () => {
  const get = (html: string, re: RegExp): string | undefined => re.exec(html)?.[1];

  it("never carry one request's input, result or error into the next page", async () => {
    const first = await request(ctx.app).post('/predict/regression').type('form').send('x=five');
    const second = await request(ctx.app).post('/predict/regression').type('form').send('x=7');
    const third = await request(ctx.app).post('/predict/sentiment').type('form').send({ review: 'A good film' });
    const home = await request(ctx.app).get('/');

    expect(errorText(first.text, 'regression')).toMatch(/must be a number/);
    expect(get(second.text, /name="x"[^>]*value="([^"]*)"/)).toBe('7');
    expect(errorText(second.text, 'regression')).toBeNull();
    expect(second.text).not.toContain('aria-invalid');
    expect(predictionText(second.text)).toBe('The predicted value for 7 is 15.00.');
    expect(get(third.text, /name="x"[^>]*value="([^"]*)"/)).toBe('');
    expect(predictionText(third.text)).toBe('This review is positive (90.0 % confidence).');
    expect(third.text).toMatch(/<section class="card active" id="sentiment"/);
    expect(third.text).toMatch(/<section class="card" id="regression"/);
    expect(predictionText(home.text)).toBeNull();
    expect(home.text).not.toContain('active');
    expect(home.text).toContain('></textarea>');
  });

  it('draws the chart axes for a point outside the training range, and the usual ones after it', async () => {
    const ticks = (html: string): string[] => [...html.matchAll(/<text class="tick"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1] as string);
    const inside = await request(ctx.app).post('/predict/regression').type('form').send('x=5');
    const outside = await request(ctx.app).post('/predict/regression').type('form').send('x=100');
    const again = await request(ctx.app).post('/predict/regression').type('form').send('x=6');
    expect(ticks(outside.text)).toContain('100');
    expect(outside.text).toMatch(/<p class="note" id="regression-chart-note">x = 100 is outside the training range/);
    expect(ticks(again.text)).toEqual(ticks(inside.text));
    expect(ticks(again.text)).not.toContain('100');
    expect(again.text).toMatch(/<p class="note" id="regression-chart-note" hidden><\/p>/);
  });

  it('are sent with a correct length, multi-byte characters included', async () => {
    const res = await request(ctx.app).post('/predict/sentiment').type('form').send({ review: 'Très bien, 映画 😀' });
    expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.text));
    expect(res.text).toContain('Très bien, 映画 😀</textarea>');
  });
});

describe('an unknown path', () => {
  it('answers a 404 page for browsers', async () => {
    const res = await request(ctx.app).get('/nothing/here').set('Accept', 'text/html');
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.text).toContain('There is nothing at GET /nothing/here.');
  });

  it('answers 404 JSON to a program that asks for JSON', async () => {
    const res = await request(ctx.app).get('/nothing/here').set('Accept', 'application/json');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });

  it('redirects a refreshed form post URL to the page', async () => {
    const res = await request(ctx.app).get('/predict/regression');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/');
  });
});

describe('health', () => {
  it('GET /healthz answers 200 while the process runs, even before the models load', async () => {
    const { app } = await buildApp({ load: false });
    const res = await request(app).get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('GET /readyz answers 503 before the models are loaded', async () => {
    const { app } = await buildApp({ load: false });
    const res = await request(app).get('/readyz');
    expect(res.status).toBe(503);
    expect(res.body.status).toBe('loading');
  });

  it('GET /readyz answers 200 once every model is loaded', async () => {
    const res = await request(ctx.app).get('/readyz');
    expect(res.status).toBe(200);
    expect(res.body.models.map((m: { name: string }) => m.name)).toEqual(['regression', 'malaria', 'sentiment']);
  });

  it('GET /readyz answers 503 while shutting down', async () => {
    ctx.lifecycle.shuttingDown = true;
    const res = await request(ctx.app).get('/readyz');
    expect(res.status).toBe(503);
    expect(res.body.status).toBe('shutting_down');
  });
});
