/**
 * A reader for the protobuf text format, enough for Triton's config.pbtxt files: fields `name:
 * value`, messages `name { … }` (colon optional, `< … >` too), lists `name: [ a, b ]` and
 * `name [ { … }, { … } ]`, strings with escapes, numbers, identifiers (enum values, true, false)
 * and `#` comments. It knows no schema: every field maps to the list of its values in order (a
 * singular field's value is its last occurrence, as in protobuf); repository.ts gives them types.
 */

export type PbValue = string | number | boolean | PbIdent | PbMessage;
/** An enum value such as TYPE_FP32 (an unquoted identifier other than true/false). */
export interface PbIdent {
  ident: string;
}
export type PbMessage = { [field: string]: PbValue[] };

export class PbtxtError extends Error {}

type Token = { kind: 'punct' | 'ident' | 'string' | 'number'; text: string; value?: string | number; line: number };

const PUNCT = new Set(['{', '}', '[', ']', ':', ',', ';', '<', '>']);
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', "'": "'", '\\': '\\', a: '\x07', b: '\b', f: '\f', v: '\v', '?': '?' };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (PUNCT.has(c)) {
      tokens.push({ kind: 'punct', text: c, line });
      i++;
    } else if (c === '"' || c === "'") {
      let value = '';
      let j = i + 1;
      for (; j < text.length && text[j] !== c; j++) {
        const d = text[j] as string;
        if (d === '\n') throw new PbtxtError(`line ${line}: unterminated string`);
        if (d !== '\\') {
          value += d;
          continue;
        }
        const e = text[++j] ?? '';
        if (e in ESCAPES) value += ESCAPES[e];
        else if (/[0-7]/.test(e)) {
          const oct = /^[0-7]{1,3}/.exec(text.slice(j))?.[0] as string;
          value += String.fromCharCode(parseInt(oct, 8));
          j += oct.length - 1;
        } else if (e === 'x') {
          const hex = /^[0-9a-fA-F]{1,2}/.exec(text.slice(j + 1))?.[0];
          if (hex === undefined) throw new PbtxtError(`line ${line}: bad \\x escape`);
          value += String.fromCharCode(parseInt(hex, 16));
          j += hex.length;
        } else throw new PbtxtError(`line ${line}: unknown escape \\${e}`);
      }
      if (j >= text.length) throw new PbtxtError(`line ${line}: unterminated string`);
      tokens.push({ kind: 'string', text: text.slice(i, j + 1), value, line });
      i = j + 1;
    } else {
      const m = /^[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[fF]?)|^[A-Za-z_][\w.]*/.exec(text.slice(i));
      if (m === null) throw new PbtxtError(`line ${line}: unexpected character "${c}"`);
      const word = m[0];
      if (/^[A-Za-z_]/.test(word)) tokens.push({ kind: 'ident', text: word, line });
      else tokens.push({ kind: 'number', text: word, value: Number(word.replace(/[fF]$/, '')), line });
      i += word.length;
    }
  }
  return tokens;
}

/** Parses a whole document (a message without braces). */
export function parsePbtxt(text: string): PbMessage {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const fail = (what: string): never => {
    const t = peek();
    throw new PbtxtError(t === undefined ? `unexpected end of file: ${what}` : `line ${t.line}: ${what}, found "${t.text}"`);
  };
  const isPunct = (p: string): boolean => peek()?.kind === 'punct' && peek()?.text === p;
  const expect = (p: string): void => {
    if (!isPunct(p)) fail(`expected "${p}"`);
    pos++;
  };

  const scalar = (): PbValue => {
    const t = peek();
    if (t === undefined) return fail('expected a value');
    if (t.kind === 'string') {
      // Adjacent string literals concatenate, as in C.
      let s = '';
      while (peek()?.kind === 'string') s += (tokens[pos++] as Token).value as string;
      return s;
    }
    pos++;
    if (t.kind === 'number') return t.value as number;
    if (t.kind === 'ident') {
      if (t.text === 'true' || t.text === 'True' || t.text === 't') return true;
      if (t.text === 'false' || t.text === 'False' || t.text === 'f') return false;
      if (t.text === 'inf' || t.text === 'infinity') return Infinity;
      if (t.text === 'nan') return NaN;
      return { ident: t.text };
    }
    pos--;
    return fail('expected a value');
  };

  const value = (): PbValue => (isPunct('{') || isPunct('<') ? nested() : scalar());

  const nested = (): PbMessage => {
    const close = isPunct('{') ? '}' : '>';
    pos++;
    const msg = fields(close);
    expect(close);
    return msg;
  };

  const fields = (close: string | null): PbMessage => {
    const msg: PbMessage = {};
    while (peek() !== undefined && !(close !== null && isPunct(close))) {
      const name = peek();
      if (name?.kind !== 'ident') fail('expected a field name');
      pos++;
      const values = (msg[(name as Token).text] ??= []);
      const colon = isPunct(':');
      if (colon) pos++;
      if (isPunct('[')) {
        pos++;
        while (!isPunct(']')) {
          values.push(value());
          if (isPunct(',')) pos++;
          else if (!isPunct(']')) fail('expected "," or "]"');
        }
        pos++;
      } else if (isPunct('{') || isPunct('<')) {
        values.push(nested());
      } else {
        if (!colon) fail(`expected ":" after ${(name as Token).text}`);
        values.push(scalar());
      }
      if (isPunct(',') || isPunct(';')) pos++;
    }
    return msg;
  };

  const doc = fields(null);
  if (pos < tokens.length) fail('expected a field name');
  return doc;
}

/** A nested message (its fields hold arrays; an identifier's `ident` is a string). */
export const isMessage = (v: PbValue | undefined): v is PbMessage =>
  typeof v === 'object' && v !== null && typeof (v as Partial<PbIdent>).ident !== 'string';

export const isIdent = (v: PbValue | undefined): v is PbIdent =>
  typeof v === 'object' && v !== null && typeof (v as Partial<PbIdent>).ident === 'string';
