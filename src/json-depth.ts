/**
 * How deeply a JSON text nests, read before JSON.parse sees it. V8's JSON.parse takes super-linear
 * time on deeply nested arrays (512 KB of "[" took 88 ms, 1 MB 260 ms, on the event loop), and
 * code that walks the result recursively (Array.prototype.flat) overflows the stack. No request
 * of ours nests more than a few levels: a JSON body's fields, an OIP tensor's rows, a JSON Lines
 * record. So the body parsers (express.json's `verify`), the OIP reader and the JSON Lines reader
 * can refuse a text that nests deeper than they need, in one pass over its characters.
 *
 * Brackets inside strings do not count; the text need not be valid JSON (JSON.parse says what is
 * wrong with it afterwards). Pure: the browser can bundle it.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * Whether `json` (text, or its UTF-8 bytes: the bytes looked at are ASCII, never part of a
 * multi-byte character) nests arrays and objects at most `maxDepth` deep.
 */
export function jsonDepthWithin(json: string | Uint8Array, maxDepth: number): boolean {
  const text = typeof json === 'string';
  const n = json.length;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < n; i++) {
    const c = text ? json.charCodeAt(i) : (json[i] as number);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > maxDepth) return false;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    }
  }
  return true;
}
