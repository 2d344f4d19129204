/** Markdown for the benchmark reports: numbers, a table of load rows, and a generated block in a document. */
import fs from 'node:fs';
import type { Row } from './load';

export const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : '–');

export function table(rows: Row[]): string {
  const cpu = rows.some((r) => r.cpuMs !== undefined);
  const lines = [
    `| scenario | conns | req/s | p50 ms | p99 ms | errors | non-2xx |${cpu ? ' server CPU ms/req |' : ''}`,
    `|---|---:|---:|---:|---:|---:|---:|${cpu ? '---:|' : ''}`,
  ];
  for (const r of rows) {
    const c = cpu ? ` ${fmt(r.cpuMs ?? NaN, 2)} |` : '';
    lines.push(`| ${r.scenario}${r.note ? ` (${r.note})` : ''} | ${r.connections} | ${fmt(r.rps)} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${r.errors} | ${r.non2xx} |${c}`);
  }
  return lines.join('\n');
}

/** Replaces what lies between `<!-- name:start -->` and `<!-- name:end -->` in `file`. */
export function replaceBlock(file: string, name: string, content: string): void {
  const text = fs.readFileSync(file, 'utf8');
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${file} has no ${start} … ${end} block`);
  fs.writeFileSync(file, `${text.slice(0, a + start.length)}\n${content}\n${text.slice(b)}`);
}
