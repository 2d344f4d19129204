/** src/batch/report.ts: the batch command's known-answers report. */
import { KnownAnswers } from '../../src/batch/report';

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
