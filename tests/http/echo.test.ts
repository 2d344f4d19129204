/** src/http/echo.ts: the page's echo of a review is bounded, and escaped exactly as EJS escapes. */
import ejs from 'ejs';
import fc from 'fast-check';
import { escapeHtmlBytes, keptText } from '../../src/http/echo';

/** Any UTF-16 units, lone surrogates included, with the characters HTML escaping is about made likely. */
const units = fc.string({
  unit: fc.oneof(fc.constantFrom('&', '<', '>', '"', "'", '\u0000', '\u202e', '😀', 'é'), fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c))),
  maxLength: 200,
});

describe('escapeHtmlBytes', () => {
  it('writes the same bytes as ejs.escapeXML encoded as UTF-8, for any text', () => {
    fc.assert(
      fc.property(units, (text) => {
        expect(escapeHtmlBytes(text).equals(Buffer.from(ejs.escapeXML(text)))).toBe(true);
      }),
    );
  });

  it('escapes a closing textarea tag and quotes', () => {
    expect(escapeHtmlBytes(`</textarea>"'&`).toString()).toBe('&lt;/textarea&gt;&#34;&#39;&amp;');
  });

  it('turns a lone surrogate into U+FFFD, as encoding the page does', () => {
    expect(escapeHtmlBytes('a\ud800b').toString()).toBe('a\ufffdb');
  });
});

describe('keptText', () => {
  it('keeps a text of up to twice the limit whole', () => {
    expect(keptText('abcd', 2)).toBe('abcd');
    expect(keptText('😀😀', 2)).toBe('😀😀');
  });

  it('cuts a longer text at twice the limit, in UTF-16 units', () => {
    expect(keptText('abcdef', 2)).toBe('abcd');
  });

  it('never cuts a surrogate pair in half', () => {
    fc.assert(
      fc.property(units, fc.integer({ min: 1, max: 60 }), (text, maxChars) => {
        const kept = keptText(text, maxChars);
        expect(text.startsWith(kept)).toBe(true);
        expect(kept.length).toBeLessThanOrEqual(2 * maxChars);
        expect(kept.length).toBeGreaterThanOrEqual(Math.min(text.length, 2 * maxChars - 1));
        const last = kept.charCodeAt(kept.length - 1);
        const next = text.charCodeAt(kept.length);
        expect(last >= 0xd800 && last <= 0xdbff && next >= 0xdc00 && next <= 0xdfff).toBe(false);
      }),
    );
  });
});
