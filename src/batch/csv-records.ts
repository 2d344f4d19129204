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

  /** Feeds the next chunk of text; returns the records it completed. */
  push(text: string): CsvRecord[] {
    const out: CsvRecord[] = [];
    for (let i = 0; i < text.length; i++) {
      const c = text[i] as string;
      if (this.quoted) {
        if (this.quoteSeen) {
          this.quoteSeen = false;
          if (c === '"') {
            this.field += '"';
            continue;
          }
          this.quoted = false; // the quote closed the field; c is handled below as unquoted text
        } else if (c === '"') {
          this.quoteSeen = true;
          continue;
        } else {
          if (c === '\n') this.line++;
          this.field += c;
          continue;
        }
      }
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
        this.field += c;
        this.fieldStarted = true;
      }
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
