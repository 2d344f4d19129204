/**
 * ADMIN_TOKEN's check (src/http/auth.ts adminCheck): `Authorization: Bearer <token>` or HTTP Basic
 * with the token as the password (any user name), nothing else; and the comparison is constant-time:
 * every header, right, wrong, short, long or malformed, ends in one timingSafeEqual of two SHA-256
 * digests (32 bytes each), so neither the token nor its length shows in how long a refusal takes.
 */
import crypto from 'node:crypto';
import { adminCheck } from '../../src/http/auth';

const TOKEN = 's3cret-admin-token';
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
/** The comparison auth.ts makes, watched (auth.ts calls it through the module object, at call time). */
const compare = jest.spyOn(crypto, 'timingSafeEqual');

describe('adminCheck', () => {
  const check = adminCheck(TOKEN);
  beforeEach(() => compare.mockClear());

  it.each([
    ['Bearer with the token', `Bearer ${TOKEN}`],
    ['bearer in lower case', `bearer ${TOKEN}`],
    ['Basic with the token as the password', basic('admin', TOKEN)],
    ['Basic with any user name', basic('', TOKEN)],
  ])('accepts %s', (_name, header) => {
    expect(check(header)).toBe(true);
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['a wrong token of the same length', `Bearer ${TOKEN.slice(0, -1)}X`],
    ['a prefix of the token', `Bearer ${TOKEN.slice(0, 4)}`],
    ['the token and more', `Bearer ${TOKEN}X`],
    ['the token as a Basic user name', basic(TOKEN, '')],
    ['Basic without a colon', `Basic ${Buffer.from(TOKEN).toString('base64')}`],
    ['another scheme', `Token ${TOKEN}`],
    ['the bare token', TOKEN],
    ['a header of 10,000 characters', `Bearer ${'x'.repeat(10_000)}`],
  ])('refuses %s', (_name, header) => {
    expect(check(header)).toBe(false);
  });

  it('compares every header the same way: one timingSafeEqual of two 32-byte digests, refused or not', () => {
    for (const header of [`Bearer ${TOKEN}`, `Bearer x`, `Bearer ${'y'.repeat(500)}`, 'Basic !!!', 'nonsense', basic('a', 'b')]) {
      compare.mockClear();
      check(header);
      expect(compare).toHaveBeenCalledTimes(1);
      const [a, b] = compare.mock.calls[0] as [Buffer, Buffer];
      expect([a.length, b.length]).toEqual([32, 32]);
    }
  });
});
