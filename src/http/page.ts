/**
 * Renders views/*.ejs to strings, fast enough that the page is not what limits a form post.
 *
 * Measured with a form post of the number form (bench/run.ts): rendering the whole 12 KB page
 * through `res.render` took about 0.7–0.9 ms of the request's 2 ms, because every EJS `include`
 * looks its file up on disk (existsSync) and copies all options and locals. Most of the page never changes
 * between requests, so:
 *  - templates are compiled once (unless `cache` is off, as in development, to pick up edits), and
 *    draw their partials through `partial()`, a direct call, instead of `include`;
 *  - a section of the page (one model's card, the API section) that shows nothing from the
 *    request is rendered once and reused. Only the card the user just submitted is rendered per
 *    request. Sections that depend on the request's Host (the API section's curl lines) are kept
 *    per host, for a bounded number of hosts.
 */
import fs from 'node:fs';
import path from 'node:path';
import ejs, { type TemplateFunction as Template } from 'ejs';

/** More hosts than a deployment has (its own name, localhost, an IP): beyond it, render afresh. */
const MAX_CACHED_SECTIONS = 64;

export class PageRenderer {
  private readonly templates = new Map<string, Template>();
  private readonly sections = new Map<string, string>();

  constructor(
    private readonly dir: string,
    private readonly options: { cache: boolean } = { cache: true },
  ) {}

  /**
   * views/<name>.ejs rendered with `locals`. Templates draw views/partials/<p>.ejs with
   * `partial(p, data)`, which sees `locals` plus `data`. (EJS's own `include` would look the file
   * up on disk and copy every option on each call: about a third of the page's rendering time.)
   */
  render(name: string, locals: Record<string, unknown>): string {
    const partial = (p: string, data?: Record<string, unknown>): string =>
      this.render(`partials/${p}`, data === undefined ? locals : { ...locals, ...data });
    return this.template(name)({ ...locals, partial });
  }

  /**
   * A section that shows nothing from the request: rendered the first time, then reused for the
   * same `key`. The key must name everything the section's output depends on.
   */
  cached(key: string, render: () => string): string {
    if (!this.options.cache) return render();
    const hit = this.sections.get(key);
    if (hit !== undefined) return hit;
    const html = render();
    if (this.sections.size < MAX_CACHED_SECTIONS) this.sections.set(key, html);
    return html;
  }

  private template(name: string): Template {
    const hit = this.templates.get(name);
    if (hit !== undefined) return hit;
    const filename = path.join(this.dir, `${name}.ejs`);
    const fn = ejs.compile(fs.readFileSync(filename, 'utf8'), { filename });
    if (this.options.cache) this.templates.set(name, fn);
    return fn;
  }
}
