/**
 * A streaming CSV reader (RFC 4180): text goes in chunk by chunk, complete records come out with the
 * line they start on, so a row can be named by its line number and a 2 GB file never sits in memory.
 * Quoted fields may hold commas, doubled quotes and line breaks; CRLF and LF both end a record;
 * blank lines are skipped. It is lenient the way spreadsheets are: a quote inside an unquoted field
 * is kept as text. A quoted field still open at the end of the input marks its record `unterminated`.
 *
 * Pure: no Node APIs.
 */
export interface CsvRecord {
  /** 1-based line of the input where the record starts. */
  line: number;
  fields: string[];
  /** The input ended inside a quoted field. */
  unterminated?: boolean;
}

/** Character codes. A comma, LF or CR ends a run of unquoted text once it has begun (a quote in it is text); QUOTE opens and closes a quoted field. */
const COMMA = 44;
const LF = 10;
const CR = 13;
const QUOTE = 34;

export class CsvRecords {
  private fields: string[] = [];
  private field = '';
  /** Inside a quoted field. */
  private quoted = false;
  /** Just saw a quote inside a quoted field: a second one is a literal quote, anything else closes it. */
  private quoteSeen = false;
  /** The current field began with a quote (so it is a quoted field). */
  private fieldStarted = false;
  private line = 1;
  private recordLine = 1;

  /**
   * Feeds the next chunk of text; returns the records it completed. Linear in the chunk: runs of
   * ordinary characters are found by one scan and appended as slices, not character by character.
   */
  push(text: string): CsvRecord[] {
    const out: CsvRecord[] = [];
    const n = text.length;
    let i = 0;
    // The next line break at or after i, looked up again only once passed, so that counting the
    // line breaks inside quoted fields reads the chunk once however many quotes it has.
    let newline = -1;
    while (i < n) {
      if (this.quoted) {
        // After a quote, a second one is a literal quote: it begins the next slice, so that a run of
        // doubled quotes costs one append per pair.
        let search = i;
        if (this.quoteSeen) {
          this.quoteSeen = false;
          if (text.charCodeAt(i) !== QUOTE) {
            this.quoted = false; // the quote closed the field; text[i] is handled below as unquoted text
            continue;
          }
          search = i + 1;
        }
        const quote = text.indexOf('"', search);
        const end = quote < 0 ? n : quote;
        for (let from = i; ; from = newline + 1) {
          if (newline < from) {
            const at = text.indexOf('\n', from);
            newline = at < 0 ? n : at;
          }
          if (newline >= end) break;
          this.line++;
        }
        this.field += text.slice(i, end);
        if (quote < 0) break;
        this.quoteSeen = true;
        i = quote + 1;
        continue;
      }
      const c = text[i] as string;
      if (c === ',') {
        this.endField();
      } else if (c === '\n') {
        this.endRecord(out);
        this.line++;
        this.recordLine = this.line;
      } else if (c === '\r') {
        // CRLF: the \n ends the record
      } else if (c === '"' && !this.fieldStarted) {
        this.quoted = true;
        this.fieldStarted = true;
      } else {
        // c and the ordinary characters after it (a quote inside an unquoted field is text)
        let end = i + 1;
        for (; end < n; end++) {
          const k = text.charCodeAt(end);
          if (k === COMMA || k === LF || k === CR) break;
        }
        this.field += text.slice(i, end);
        this.fieldStarted = true;
        i = end;
        continue;
      }
      i++;
    }
    return out;
  }

  /** The input has ended: the last record, if it had no line break after it. */
  end(): CsvRecord[] {
    const out: CsvRecord[] = [];
    const unterminated = this.quoted && !this.quoteSeen;
    this.quoted = false;
    this.quoteSeen = false;
    this.endRecord(out);
    if (unterminated && out.length > 0) (out[0] as CsvRecord).unterminated = true;
    return out;
  }

  private endField(): void {
    this.fields.push(this.field);
    this.field = '';
    this.fieldStarted = false;
  }

  private endRecord(out: CsvRecord[]): void {
    if (this.fields.length === 0 && !this.fieldStarted && this.field === '') return; // blank line
    this.endField();
    out.push({ line: this.recordLine, fields: this.fields });
    this.fields = [];
  }
}
