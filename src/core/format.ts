/**
 * How numbers read on every surface: the server's statements, the page the server renders
 * (through the view model), the page script and the multi-image table. One implementation, so the
 * page can never print what the server promises not to (a copy of this once printed "100.0 %").
 * No Node, no DOM: the browser bundles import it as they are.
 */

/** A plain decimal number: "5", "-3.25", ".5", "1e3". No hex, no "Infinity", no thousands separators. */
export const DECIMAL = /^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$/;

/** Two decimals for everyday numbers; six significant digits for very large or tiny ones. */
export function formatNumber(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e9 || a < 1e-2)) return v.toPrecision(6);
  return v.toFixed(2);
}

/**
 * A probability as a person reads it: "97.4 %", one decimal. Only a certainty prints as "100.0 %"
 * or "0.0 %": a probability strictly between 0 and 1 that would round to either end is written
 * "> 99.9 %" or "< 0.1 %", because the models never claim certainty.
 */
export function formatPercent(p: number): string {
  const pct = p * 100;
  if (pct >= 99.95 && p < 1) return '> 99.9 %';
  if (pct < 0.05 && p > 0) return '< 0.1 %';
  return `${pct.toFixed(1)} %`;
}

/** Bytes as a file list states them: "12 KB", "3.4 MB". */
export function sizeText(bytes: number): string {
  return bytes < 1024 * 1024
    ? `${Math.max(1, Math.round(bytes / 1024))} KB`
    : `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** A byte limit in megabytes, one decimal at most: 5242880 → 5, 1572864 → 1.5. */
export function megabytes(bytes: number): number {
  return Math.round((bytes / (1024 * 1024)) * 10) / 10;
}

/**
 * A number field's value as the API's example shows it ({"x": 5}) when it is a plain decimal;
 * otherwise the text, so the server's message is the one a form post would get (the page script's
 * JSON bodies and the server's reading of the feedback form alike).
 */
export function numberValue(text: string): number | string {
  const t = text.trim();
  return t.length <= 64 && DECIMAL.test(t) && Number.isFinite(Number(t)) ? Number(t) : text;
}
