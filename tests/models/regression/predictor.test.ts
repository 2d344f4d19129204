import { AppError } from '../../../src/errors';
import { formatNumber, parseX, postprocess, preprocess } from '../../../src/models/regression/predictor';

describe('parseX', () => {
  it.each([
    [5, 5],
    ['5', 5],
    [' -2.5 ', -2.5],
    ['.5', 0.5],
    ['1e3', 1000],
    ['+7', 7],
    [0, 0],
  ])('accepts %p as %p', (raw, x) => {
    expect(parseX(raw)).toBe(x);
  });

  it.each([undefined, null, '', '   '])('asks for a number when x is %p', (raw) => {
    expect(() => parseX(raw)).toThrow(expect.objectContaining({ kind: 'invalid', code: 'missing_x' }));
  });

  it.each(['five', '0x10', '1,5', '5 apples', 'Infinity', 'NaN', '1e999', true, [1], { x: 1 }, Number.NaN, Number.POSITIVE_INFINITY, 1e39])(
    'rejects %p with invalid_x',
    (raw) => {
      let error: unknown;
      try {
        parseX(raw);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(AppError);
      expect(error).toMatchObject({ kind: 'invalid', code: 'invalid_x' });
    },
  );
});

describe('preprocess', () => {
  it('makes a float32 [1, 1] tensor named x', () => {
    expect(preprocess(5)).toEqual({ x: { type: 'float32', dims: [1, 1], data: Float32Array.of(5) } });
  });
});

describe('postprocess', () => {
  it('turns y into a value and a statement', () => {
    const p = postprocess({ y: { type: 'float32', dims: [1, 1], data: Float32Array.of(18.93) } }, 5, '1');
    expect(p).toEqual({ model: 'regression', version: '1', value: 18.93, statement: 'The predicted value for 5 is 18.93.' });
  });

  it('refuses an infinite prediction with a 400', () => {
    const out = { y: { type: 'float32' as const, dims: [1, 1], data: Float32Array.of(Number.POSITIVE_INFINITY) } };
    expect(() => postprocess(out, 3e38, '1')).toThrow(expect.objectContaining({ kind: 'invalid', code: 'x_out_of_range' }));
  });
});

describe('formatNumber', () => {
  it.each([
    [18.926, '18.93'],
    [-4, '-4.00'],
    [0, '0.00'],
    [1.5e12, '1.50000e+12'],
    [0.000123, '0.000123000'],
  ])('formats %p as %p', (v, text) => {
    expect(formatNumber(v)).toBe(text);
  });
});
