/**
 * What the page shows again of a text a person sent (the review in its textarea, after an error or
 * a prediction): bounded, and HTML-escaped straight into UTF-8 bytes.
 *
 * Issue 22: a form body may be 12 times the review's limit (src/fields.ts, MAX_BYTES_PER_CHAR), and
 * a hostile one is all "<" or '"'. ejs.escapeXML is String.replace with a callback, which builds
 * one part per match: 240,000 "<" took 40 ms of the event loop under a 2 MB semi-space (the
 * start script's until issue 26), and even 20,000 (a valid review) 3.5 ms. Escaping bytes takes
 * 0.2 ms for 40,000.
 */

/** The longest text kept, for a field of at most `maxChars` characters. */
export const keptLength = (maxChars: number): number => 2 * maxChars;

/**
 * `text` as the page shows it again: whole when it could be within the limit of `maxChars`
 * characters (a character is at most two UTF-16 units) or a little over it, so that the person can
 * shorten it; otherwise its first keptLength(maxChars) units, a surrogate pair never split.
 */
export function keptText(text: string, maxChars: number): string {
  const max = keptLength(maxChars);
  if (text.length <= max) return text;
  const last = text.charCodeAt(max - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

/** What ejs.escapeXML writes for each character it escapes, by the character's code, as bytes. */
const ESCAPES: readonly (Buffer | undefined)[] = Array.from({ length: 128 }, (_, code) => {
  const entity = ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' } as Record<string, string>)[String.fromCharCode(code)];
  return entity === undefined ? undefined : Buffer.from(entity);
});

/**
 * `text` as UTF-8 with & < > " ' escaped as ejs.escapeXML does, so that both agree; a lone
 * surrogate becomes U+FFFD, as when the page's strings are encoded. Bytes of multi-byte characters
 * are all ≥ 0x80, so the ASCII ones can be escaped byte by byte.
 */
export function escapeHtmlBytes(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  let extra = 0;
  for (let i = 0; i < bytes.length; i++) extra += (ESCAPES[bytes[i] as number]?.length ?? 1) - 1;
  if (extra === 0) return bytes;
  const out = Buffer.allocUnsafe(bytes.length + extra);
  let at = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    const escape = ESCAPES[b];
    if (escape === undefined) out[at++] = b;
    else for (let k = 0; k < escape.length; k++) out[at++] = escape[k] as number;
  }
  return out;
}
