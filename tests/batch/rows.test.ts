import { csvColumns, csvField, csvLine, jsonLine, rowCells, toCsv, type BatchRow } from '../../src/batch/rows';

const MALARIA = ['parasitized', 'uninfected'];

const cell: BatchRow = {
  input: 'cells/parasitized/a.png',
  prediction: { label: 'parasitized', confidence: 0.9987, scores: { parasitized: 0.9987, uninfected: 0.0013 } },
};
const broken: BatchRow = {
  input: 'cells/broken.png',
  error: { code: 'invalid_image', message: 'The PNG file could not be decoded. It may be truncated or damaged.' },
};

describe('csvColumns', () => {
  it('gives a classifier input, label, confidence, one score column per label in card order, error', () => {
    expect(csvColumns(MALARIA)).toEqual([
      'input',
      'label',
      'confidence',
      'score_parasitized',
      'score_uninfected',
      'error',
    ]);
  });

  it('gives a regression (no labels) input, value, error', () => {
    expect(csvColumns([])).toEqual(['input', 'value', 'error']);
  });
});

describe('rowCells', () => {
  it('writes a prediction as the API rounds it, with an empty error', () => {
    expect(rowCells(cell, MALARIA)).toEqual([
      'cells/parasitized/a.png',
      'parasitized',
      0.9987,
      0.9987,
      0.0013,
      '',
    ]);
  });

  it('writes an error row with only the input and "code: message"', () => {
    expect(rowCells(broken, MALARIA)).toEqual([
      'cells/broken.png',
      '',
      '',
      '',
      '',
      'invalid_image: The PNG file could not be decoded. It may be truncated or damaged.',
    ]);
  });

  it('writes a regression value', () => {
    expect(rowCells({ input: '3', prediction: { value: 18.78 } }, [])).toEqual(['3', 18.78, '']);
    expect(
      rowCells({ input: '4', error: { code: 'invalid_x', message: '"x" must be a number, like 5 or -2.5.' } }, []),
    ).toEqual(['4', '', 'invalid_x: "x" must be a number, like 5 or -2.5.']);
  });
});

describe('csvField and csvLine', () => {
  it('leaves plain text alone and quotes commas, quotes and line breaks (RFC 4180)', () => {
    expect(csvField('plain text')).toBe('plain text');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvLine(['x', 'y,z', ''])).toBe('x,"y,z",\n');
  });
});

describe('toCsv', () => {
  it('writes the header and one line per row, an error message with a comma quoted', () => {
    const row: BatchRow = {
      input: 'b.svg',
      error: { code: 'unsupported_image_type', message: 'Not an image, sorry.' },
    };
    expect(toCsv([cell, row], MALARIA)).toBe(
      'input,label,confidence,score_parasitized,score_uninfected,error\n' +
        'cells/parasitized/a.png,parasitized,0.9987,0.9987,0.0013,\n' +
        'b.svg,,,,,"unsupported_image_type: Not an image, sorry."\n',
    );
  });
});

describe('jsonLine', () => {
  it("writes a classifier row as the API's fields with input first", () => {
    expect(jsonLine(cell)).toBe(
      '{"input":"cells/parasitized/a.png","label":"parasitized","confidence":0.9987,"scores":{"parasitized":0.9987,"uninfected":0.0013}}\n',
    );
  });

  it("writes an error row with the API's error object, and a regression row with its value", () => {
    expect(JSON.parse(jsonLine(broken))).toEqual({ input: 'cells/broken.png', error: broken.error });
    expect(jsonLine({ input: '7', prediction: { value: -2.25 } })).toBe('{"input":"7","value":-2.25}\n');
  });
});

describe('explained rows (--explain, issue 25)', () => {
  const explanation = { bias: 0.1358, tokens: [{ text: 'loved it', start: 0, end: 8, weight: 1.7582 }] };
  const review: BatchRow = {
    input: 'r1',
    prediction: { label: 'positive', confidence: 0.99, scores: { negative: 0.01, positive: 0.99 }, explanation },
  };
  const empty: BatchRow = { input: 'r2', error: { code: 'empty_review', message: 'The review is empty.' } };
  const SENTIMENT = ['negative', 'positive'];

  it('puts the explanation column before error only when asked', () => {
    expect(csvColumns(SENTIMENT, { explain: true })).toEqual([
      'input',
      'label',
      'confidence',
      'score_negative',
      'score_positive',
      'explanation',
      'error',
    ]);
    expect(csvColumns([], { explain: true })).toEqual(['input', 'value', 'explanation', 'error']);
    expect(csvColumns(SENTIMENT)).toEqual(csvColumns(SENTIMENT, { explain: false }));
  });

  it('writes the explanation as its JSON text in one quoted cell, empty for an error row', () => {
    expect(rowCells(review, SENTIMENT, { explain: true })[5]).toBe(JSON.stringify(explanation));
    expect(csvLine(rowCells(review, SENTIMENT, { explain: true }))).toBe(
      'r1,positive,0.99,0.01,0.99,"{""bias"":0.1358,""tokens"":[{""text"":""loved it"",""start"":0,""end"":8,""weight"":1.7582}]}",\n',
    );
    expect(rowCells(empty, SENTIMENT, { explain: true })).toEqual([
      'r2',
      '',
      '',
      '',
      '',
      '',
      'empty_review: The review is empty.',
    ]);
  });

  it('leaves a prediction that carries an explanation as it was when not asked (the page\'s "Download CSV")', () => {
    const bare: BatchRow = { input: 'r1', prediction: { ...review.prediction, explanation: undefined } } as BatchRow;
    expect(toCsv([review, empty], SENTIMENT)).toBe(toCsv([bare, empty], SENTIMENT));
    expect(toCsv([review], SENTIMENT)).not.toContain('bias');
    expect(jsonLine(review)).toBe(jsonLine(bare));
  });

  it('adds the explanation object to a JSON Lines prediction when asked, none to an error row', () => {
    expect(JSON.parse(jsonLine(review, { explain: true }))).toEqual({
      input: 'r1',
      label: 'positive',
      confidence: 0.99,
      scores: { negative: 0.01, positive: 0.99 },
      explanation,
    });
    expect(jsonLine(empty, { explain: true })).toBe(jsonLine(empty));
  });
});
