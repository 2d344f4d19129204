/**
 * The walkthrough's reference stack for the benchmark: its Flask app under gunicorn
 * (bench/flask/), its pickled LinearRegression, and ml-forms' own page as a Jinja template.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HOST, type Proc, ROOT, freePort, startProcess } from './servers';

export const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/**
 * ml-forms' page after a form post, as a Jinja template for the Flask reference: the page as the
 * app sent it, with the statement and the input's value left to Jinja; everything else is kept
 * verbatim ({% raw %}), so Flask answers the same bytes for the same input.
 */
export function flaskPageTemplate(html: string, statement: string, x: string): string {
  const result = `<p class="prediction">${statement}</p>`;
  const at = html.indexOf(result);
  const input = /<input id="x" name="x"[^>]*?value="([^"]*)"/.exec(html);
  if (at < 0 || input === null || input[1] !== x)
    throw new Error('the page has no prediction statement or x input to template');
  const valueAt = input.index + input[0].length - x.length - 1;
  const raw = (s: string): string => `{% raw %}${s}{% endraw %}`;
  const parts = [
    { at: valueAt, len: x.length, with: '{{ x }}' },
    { at, len: result.length, with: '<p class="prediction">{{ prediction_text }}</p>' },
  ].sort((a, b) => a.at - b.at);
  let out = '';
  let pos = 0;
  for (const p of parts) {
    out += raw(html.slice(pos, p.at)) + p.with;
    pos = p.at + p.len;
  }
  return out + raw(html.slice(pos));
}

/** The walkthrough's Flask app under gunicorn with 2 sync workers (bench/flask/app.py). */
export async function startFlask(options: {
  modelPath: string;
  reloadModel: boolean;
  pageTemplate?: string;
}): Promise<Proc> {
  const port = await freePort();
  return startProcess(
    'flask',
    'gunicorn',
    [
      '-w',
      '2',
      '-b',
      `${HOST}:${port}`,
      '--chdir',
      path.join(ROOT, 'bench', 'flask'),
      '--log-level',
      'warning',
      'app:app',
    ],
    {
      MODEL_PATH: options.modelPath,
      RELOAD_MODEL: options.reloadModel ? '1' : '0',
      ...(options.pageTemplate ? { PAGE_TEMPLATE: options.pageTemplate } : {}),
    },
    port,
    '/',
  );
}

/** Fits the walkthrough's LinearRegression (bench/flask/fit.py) and pickles it to `file`. */
export function fitFlaskModel(file: string): void {
  execFileSync(PYTHON, [path.join(ROOT, 'bench', 'flask', 'fit.py'), file], { stdio: 'inherit' });
}

/**
 * The Flask reference set up to render `formPage` (ml-forms' page after posting x=5): the
 * walkthrough's model fitted and pickled, and the page as its Jinja template, both in `tmp`.
 */
export function flaskOnPage(tmp: string, formPage: string): { modelPath: string; pageTemplate: string } {
  const modelPath = path.join(tmp, 'model.pkl');
  fitFlaskModel(modelPath);
  const pageTemplate = path.join(tmp, 'templates', 'page.html');
  fs.mkdirSync(path.dirname(pageTemplate), { recursive: true });
  fs.writeFileSync(pageTemplate, flaskPageTemplate(formPage, statementOf(formPage), '5'));
  return { modelPath, pageTemplate };
}

/** The statement in `<p class="prediction">` of a page. */
export function statementOf(html: string): string {
  const m = /<p class="prediction">([^<]*)<\/p>/.exec(html);
  if (m === null) throw new Error('the page has no prediction');
  return m[1] as string;
}
