/**
 * Redraws a card's line chart after a fetch, from the geometry the server drew it with
 * (lineChart() in src/core/chart.ts): the same elements, attributes and order as
 * views/partials/chart.ejs and chart-axes.ejs, so the browser's SVG equals the server's
 * (tests/e2e/page.test.ts compares them).
 */
import { CHART, lineChart } from '../../core/chart';

const SVG_NS = 'http://www.w3.org/2000/svg';

function svgEl(tag: string, cls: string, attrs: Array<[string, number | string]>, text?: string): SVGElement {
  const e = document.createElementNS(SVG_NS, tag) as SVGElement;
  e.setAttribute('class', cls);
  for (const [name, value] of attrs) e.setAttribute(name, String(value));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Draws the point (x, y) on the chart in `figure` (a figure.chart carrying the fit in its data-* attributes). */
export function drawChart(figure: HTMLElement, x: number, y: number): void {
  const svg = figure.querySelector('svg');
  const caption = figure.querySelector('figcaption');
  const note = figure.querySelector<HTMLElement>('.note');
  if (svg === null) return;
  const d = figure.dataset;
  const fit = { slope: Number(d.slope), intercept: Number(d.intercept) };
  const g = lineChart(fit, [Number(d.rangeMin), Number(d.rangeMax)], { x, y });
  const { top, left } = CHART;
  const bottom = CHART.height - CHART.bottom;
  const right = CHART.width - CHART.right;
  const parts = [
    svgEl('rect', 'band', [
      ['x', g.band.x],
      ['y', g.band.y],
      ['width', g.band.width],
      ['height', g.band.height],
    ]),
  ];
  for (const t of g.xTicks) {
    parts.push(
      svgEl('line', 'grid', [
        ['x1', t.pos],
        ['y1', top],
        ['x2', t.pos],
        ['y2', bottom],
      ]),
    );
    parts.push(
      svgEl(
        'text',
        'tick',
        [
          ['x', t.pos],
          ['y', bottom + 16],
          ['text-anchor', 'middle'],
        ],
        t.label,
      ),
    );
  }
  for (const t of g.yTicks) {
    parts.push(
      svgEl('line', 'grid', [
        ['x1', left],
        ['y1', t.pos],
        ['x2', right],
        ['y2', t.pos],
      ]),
    );
    parts.push(
      svgEl(
        'text',
        'tick',
        [
          ['x', left - 6],
          ['y', t.pos + 4],
          ['text-anchor', 'end'],
        ],
        t.label,
      ),
    );
  }
  const l = g.line;
  parts.push(
    svgEl('line', 'fit', [
      ['x1', l.x1],
      ['y1', l.y1],
      ['x2', l.x2],
      ['y2', l.y2],
    ]),
  );
  if (g.point !== null) {
    const { cx, cy } = g.point;
    parts.push(
      svgEl('line', 'guide', [
        ['x1', cx],
        ['y1', bottom],
        ['x2', cx],
        ['y2', cy],
      ]),
    );
    parts.push(
      svgEl('line', 'guide', [
        ['x1', left],
        ['y1', cy],
        ['x2', cx],
        ['y2', cy],
      ]),
    );
    parts.push(
      svgEl('circle', 'point', [
        ['cx', cx],
        ['cy', cy],
        ['r', 5],
      ]),
    );
  }
  svg.replaceChildren(...parts);
  if (caption !== null) caption.textContent = g.caption;
  if (note !== null) {
    note.textContent = g.note ?? '';
    note.hidden = g.note === null;
  }
}
