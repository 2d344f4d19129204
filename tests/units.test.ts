/** Counts and sizes as every message states them (src/units.ts), whatever the machine's locale. */
import { count, megabytes } from '../src/units';

describe('count', () => {
  it.each([
    [0, '0'],
    [7, '7'],
    [999, '999'],
    [1000, '1,000'],
    [25000, '25,000'],
    [123456, '123,456'],
    [1234567, '1,234,567'],
    [-1234, '-1,234'],
    [Number.MAX_SAFE_INTEGER, '9,007,199,254,740,991'],
  ])('groups the whole number %d as %s', (n, text) => {
    expect(count(n)).toBe(text);
    expect(count(n)).toBe(n.toLocaleString('en-US'));
  });

  it('states a fraction as en-US does', () => {
    expect(count(1234.5)).toBe('1,234.5');
  });
});

describe('megabytes', () => {
  it('states whole megabytes without a decimal and others with one', () => {
    expect(megabytes(5 * 1024 * 1024)).toBe('5');
    expect(megabytes(512 * 1024)).toBe('0.5');
  });
});
