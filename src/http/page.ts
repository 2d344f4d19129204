/**
 * Renders views/*.ejs, and assembles the page from parts rendered once, so that a form post only
 * renders what it changes (the card it was about) and copies the rest.
 *
 * Measured (bench/profile.ts, a form post of the number form): rendering the whole 12 KB page
 * through EJS took 100–140 µs of a ~450 µs request, even with templates compiled once and the
 * idle cards reused: EJS copies its locals and looks every name up through `with` on each call,
 * and most of what it escaped and concatenated was the same for every request. So:
 *  - templates are compiled once (unless `cache` is off, as in development, to pick up edits),
 *    without EJS's per-line error tracking, and draw their partials through `partial()`, a direct
 *    call (EJS's `include` looks its file up on disk on every call);
 *  - a page or card is rendered once as a Frame: fixed bytes with named holes where the request's
 *    own content goes (`section(name)` in views/index.ejs, `slot(name)` in a card); a request
 *    renders only what fills the holes (src/http/view.ts);
 *  - parts that show nothing from the request (the idle cards, the API section per host name)
 *    are kept as UTF-8 bytes, and the answer is bytes concatenated: the page is never
 *    re-encoded per request.
 */
import fs from 'node:fs';
import path from 'node:path';
import ejs, { type TemplateFunction as Template } from 'ejs';

/**
 * More parts than a deployment has (hosts: its own name, localhost, an IP; a few model versions):
 * beyond it, render afresh.
 */
const MAX_CACHED_PARTS = 64;

/** Marks where a section goes in a frame while the frame is rendered once. */
const HOLE = '\u0000';

/** Parts of an answer, in order: bytes kept from earlier renders, and text rendered now. */
export type Parts = (Buffer | string)[];

/** The parts as one buffer, each string encoded straight into it (no intermediate buffers). */
export function joinParts(parts: Parts): Buffer {
  let length = 0;
  for (const p of parts) length += typeof p === 'string' ? Buffer.byteLength(p) : p.length;
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  for (const p of parts) at += typeof p === 'string' ? out.write(p, at) : p.copy(out, at);
  return out;
}

/**
 * A page rendered once with holes: fixed bytes alternating with the names of the holes
 * (bytes, a hole's name, bytes, ...).
 */
export class Frame {
  private constructor(private readonly parts: (Buffer | string)[]) {}

  /** `html` with each hole written as hole(name) (see PageRenderer.frame). */
  static parse(html: string): Frame {
    return new Frame(html.split(new RegExp(`${HOLE}([^${HOLE}]+)${HOLE}`)).map((p, i) => (i % 2 === 0 ? Buffer.from(p) : p)));
  }

  /** The frame's parts with each hole filled by `fill(name)` (which may give several parts), appended to `out`. */
  fill(fill: (name: string) => Buffer | string | Parts, out: Parts = []): Parts {
    for (const p of this.parts) {
      if (typeof p !== 'string') {
        out.push(p);
        continue;
      }
      const f = fill(p);
      if (Array.isArray(f)) out.push(...f);
      else out.push(f);
    }
    return out;
  }
}

export class PageRenderer {
  private readonly templates = new Map<string, Template>();
  private readonly parts = new Map<string, Buffer>();
  private readonly frames = new Map<string, Frame>();

  constructor(
    private readonly dir: string,
    private readonly options: { cache: boolean } = { cache: true },
  ) {}

  /** Whether parts are rendered once and reused (off in development). */
  get caching(): boolean {
    return this.options.cache;
  }

  /**
   * views/<name>.ejs (or the EJS file at `name`, an absolute path: a model's own card) rendered
   * with `locals`. Templates draw views/partials/<p>.ejs with `partial(p, data)`, which sees
   * `locals` plus `data`.
   */
  render(name: string, locals: Record<string, unknown>): string {
    const partial = (p: string, data?: Record<string, unknown>): string =>
      this.render(`partials/${p}`, data === undefined ? locals : { ...locals, ...data });
    return this.template(name)({ ...locals, partial });
  }

  /**
   * A part that shows nothing from the request, as bytes: rendered the first time, then reused for
   * the same `key`. The key must name everything the part's output depends on.
   */
  cached(key: string, render: () => string): Buffer {
    if (!this.options.cache) return Buffer.from(render());
    const hit = this.parts.get(key);
    if (hit !== undefined) return hit;
    const bytes = Buffer.from(render());
    if (this.parts.size < MAX_CACHED_PARTS) this.parts.set(key, bytes);
    return bytes;
  }

  /**
   * A page whose only request-dependent content is in named holes: `render(hole)` draws it once
   * with `hole(name)` where each one goes; the Frame then fills the holes per request.
   */
  frame(key: string, render: (hole: (name: string) => string) => string): Frame {
    const hit = this.options.cache ? this.frames.get(key) : undefined;
    if (hit !== undefined) return hit;
    const frame = Frame.parse(render((name) => `${HOLE}${name}${HOLE}`));
    if (this.options.cache && this.frames.size < MAX_CACHED_PARTS) this.frames.set(key, frame);
    return frame;
  }

  private template(name: string): Template {
    const hit = this.templates.get(name);
    if (hit !== undefined) return hit;
    const file = name.endsWith('.ejs') ? name : `${name}.ejs`;
    const filename = path.isAbsolute(name) ? file : path.join(this.dir, file);
    const fn = ejs.compile(fs.readFileSync(filename, 'utf8'), {
      filename,
      // Line numbers in template errors are for development; in production they cost a
      // statement per template line on every render.
      compileDebug: !this.options.cache,
    });
    if (this.options.cache) this.templates.set(name, fn);
    return fn;
  }
}
