/** The batch command's pure parts: the CSV reader, the known-answers report, the progress bar. */
import { CsvRecords } from '../../src/batch/csv-records';
import { KnownAnswers } from '../../src/batch/report';
import { Progress } from '../../src/cli/progress';

describe('CsvRecords', () => {
  it('reads records split anywhere across chunks, with the line each starts on', () => {
    const text = 'id,text\r\n1,"a, b"\n\n2,"say ""hi""\nsecond line"\n3,plain';
    const parser = new CsvRecords();
    const records = [...text].flatMap((c) => parser.push(c)).concat(parser.end());
    expect(records).toEqual([
      { line: 1, fields: ['id', 'text'] },
      { line: 2, fields: ['1', 'a, b'] },
      { line: 4, fields: ['2', 'say "hi"\nsecond line'] },
      { line: 6, fields: ['3', 'plain'] },
    ]);
  });

  it('keeps empty fields and marks a record whose quoted field never closes', () => {
    const parser = new CsvRecords();
    expect(parser.push('a,,c\n,\n')).toEqual([
      { line: 1, fields: ['a', '', 'c'] },
      { line: 2, fields: ['', ''] },
    ]);
    expect(parser.push('x,"open')).toEqual([]);
    expect(parser.end()).toEqual([{ line: 3, fields: ['x', 'open'], unterminated: true }]);
  });
});

describe('KnownAnswers', () => {
  it('scores a classifier: accuracy, recall per class, confusion matrix; errors and unknown labels left out', () => {
    const known = new KnownAnswers(['parasitized', 'uninfected']);
    known.add('parasitized', { label: 'parasitized' });
    known.add('Parasitized', { label: 'uninfected' });
    known.add('uninfected', { label: 'uninfected' });
    known.add('uninfected', null);
    known.add('healthy', { label: 'uninfected' });
    expect(known.seen).toBe(5);
    expect(known.accuracy).toBeCloseTo(2 / 3);
    expect(known.format()).toBe(
      [
        'Known answers: 5 inputs',
        '  1 got an error instead of a prediction and are left out',
        `  1 left out: the given label "healthy" is not one of the model's labels (parasitized, uninfected)`,
        'accuracy 66.67 % (2 of 3)',
        'recall   parasitized 50.00 % (1 of 2)   uninfected 100.00 % (1 of 1)',
        'confusion matrix (rows: true label, columns: predicted)',
        '                 parasitized   uninfected',
        '  parasitized              1            1',
        '  uninfected               0            1',
      ].join('\n'),
    );
  });

  it('scores a regression by mean absolute and root-mean-square error', () => {
    const known = new KnownAnswers([]);
    known.add('10', { value: 11 });
    known.add('10', { value: 7 });
    expect(known.format()).toBe(
      'Known answers: 2 inputs\nmean absolute error 2.000, root-mean-square error 2.236 over 2',
    );
  });
});

describe('Progress', () => {
  const stream = (isTTY: boolean) => {
    const out: string[] = [];
    return { out, stream: { isTTY, write: (s: string) => out.push(s) } as unknown as NodeJS.WriteStream };
  };

  it('draws a bar in place on a terminal: done/total, rate, ETA, errors; left complete on its own line', () => {
    const { out, stream: s } = stream(true);
    const state = { done: 0, errors: 0, total: 8 };
    const progress = new Progress(state, 'bar', s, 1000);
    progress.start(0);
    state.done = 4;
    state.errors = 1;
    progress.stop();
    const drawn = out.join('');
    expect(drawn.startsWith('\r[############............] 4/8')).toBe(true);
    expect(drawn).toMatch(/ 4\/8 {2}50 % {2}[\d,]+\/s {2}ETA \d+:\d\d {2}1 error/);
    expect(drawn.endsWith('\u001b[K\n')).toBe(true);
  });

  it('says nothing when quiet', () => {
    const { out, stream: s } = stream(false);
    const progress = new Progress({ done: 3, errors: 0 }, 'none', s, 1);
    progress.start(0);
    progress.stop();
    expect(out).toEqual([]);
  });
});
