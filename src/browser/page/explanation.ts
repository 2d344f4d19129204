/**
 * "Why this answer" drawn by the page script (issue 25): the same markup as
 * views/partials/explanation*.ejs, from the same view (src/core/explanation.ts), after a fetch or
 * a browser-engine prediction. All text goes through textContent and every number through
 * setAttribute: nothing is built as HTML from an answer or from the review, and no style
 * attribute is set (the page's CSP allows none).
 */
import {
  type CellView,
  type ExplanationView,
  type ReviewSide,
  type ReviewView,
  explanationView,
} from '../../core/explanation';

const SVG = 'http://www.w3.org/2000/svg';

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls !== '') e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A marked word or n-gram: views/partials/explanation-review.ejs's <mark>. */
function mark(text: string, side: ReviewSide, level: number, weight: number, hiddenDirection: boolean): HTMLElement {
  const m = el('mark', `why-word ${side} l${level}`, text);
  m.dataset.weight = String(weight);
  if (hiddenDirection) m.append(el('span', 'visually-hidden', ` (towards ${side})`));
  return m;
}

function reviewParts(why: ReviewView): HTMLElement[] {
  const help = el('p', 'why-help', 'Marked words pushed the answer ');
  help.append(
    el('span', 'why-key positive', 'towards positive (green, solid underline)'),
    ' or ',
    el('span', 'why-key negative', 'towards negative (orange, dashed underline)'),
    '; the darker, the stronger.',
  );
  const review = el('p', 'why-review');
  for (const s of why.segments) {
    review.append(s.word && s.level > 0 ? mark(s.text, s.side, s.level, s.score, true) : s.text);
  }
  const lists = el('div', 'why-lists');
  for (const side of ['positive', 'negative'] as const) {
    const box = el('div', `why-list ${side}`);
    box.append(el('h4', '', `Words that pushed towards ${side}`));
    const strongest = why.strongest[side];
    if (strongest.length === 0) box.append(el('p', 'why-none', 'None.'));
    else {
      const ol = el('ol', '');
      for (const n of strongest) {
        const li = el('li', '');
        li.append(mark(n.text, side, 4, n.weight, false), ' ', el('span', 'why-weight', n.weightText));
        if (n.count > 1) li.append(' ', el('span', 'why-count', `(${n.count} times)`));
        ol.append(li);
      }
      box.append(ol);
    }
    lists.append(box);
  }
  const bias = `${why.bias >= 0 ? '+' : '\u2212'}${Math.abs(why.bias).toFixed(2)}`;
  const note = el(
    'p',
    'why-note',
    `Weights are the model's exact shares of the decision, in log-odds: positive when the starting point (${bias}) plus all of them is above 0. A word inside a phrase the model knows ("not good") shares that phrase's weight.`,
  );
  return [help, review, lists, note];
}

/**
 * A cell's map over its picture (`picture`: a URL, or null to draw the map alone):
 * views/partials/explanation-map.ejs's markup. Also what a table row's thumbnail can carry.
 */
export function cellMap(why: CellView, picture: string | null, alt: string): HTMLElement {
  const box = el('span', picture === null ? 'why-map no-picture' : 'why-map');
  if (picture !== null) {
    const img = el('img', '');
    img.src = picture;
    img.alt = alt;
    box.append(img);
  }
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'why-grid');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const c of why.cells) {
    const rect = document.createElementNS(SVG, 'rect');
    rect.setAttribute('class', c.top10 ? `${c.side} top10` : c.side);
    rect.setAttribute('x', `${c.left}%`);
    rect.setAttribute('y', `${c.top}%`);
    rect.setAttribute('width', `${c.width}%`);
    rect.setAttribute('height', `${c.height}%`);
    rect.setAttribute('fill-opacity', String(c.alpha));
    rect.setAttribute('data-weight', String(c.value));
    svg.append(rect);
  }
  box.append(svg);
  return box;
}

function cellParts(why: CellView, picture: string | null): HTMLElement[] {
  const figure = el('figure', 'why-figure');
  const caption = el('figcaption', '');
  const legend = el('ul', 'why-legend');
  const entries: Array<[string, string]> = [
    ['parasitized', 'Evidence for parasitized: the stronger, the more opaque'],
    ['uninfected', 'Evidence for uninfected'],
    ['top10', 'Outlined: the squares with the most evidence for parasitized, about a tenth of the image'],
  ];
  for (const [cls, text] of entries) {
    const li = el('li', '');
    const swatch = el('span', `why-swatch ${cls}`);
    swatch.setAttribute('aria-hidden', 'true');
    li.append(swatch, text);
    legend.append(li);
  }
  caption.append(
    el('p', 'why-summary', why.summary),
    legend,
    el(
      'p',
      'why-note',
      'Each square is a part of the image blacked out in turn: the map shows how much the answer moved without it.',
    ),
  );
  figure.append(cellMap(why, picture, 'The cell image, with the map drawn over it'), caption);
  return [figure];
}

/** The box views/partials/explanation.ejs draws, for the card `name`. */
function section(name: string, why: ExplanationView, picture: string | null): HTMLElement {
  const box = el('div', 'explanation');
  box.dataset.explanation = why.kind;
  box.setAttribute('aria-live', 'off');
  const title = el('h3', 'why-title', 'Why this answer');
  title.id = `${name}-why-title`;
  box.append(title, ...(why.kind === 'review' ? reviewParts(why) : cellParts(why, picture)));
  return box;
}

/**
 * The "Why this answer" section for an answer's `explanation`, or null when it has none that can
 * be drawn: `text` is the review as sent (its offsets point into it), `picture` the image's URL.
 */
export function explanationSection(
  name: string,
  explanation: unknown,
  sent: { text?: string; picture?: string | null },
): HTMLElement | null {
  const why = explanationView(explanation, sent.text);
  return why === null ? null : section(name, why, sent.picture ?? null);
}
