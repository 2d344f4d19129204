/** Sizes and counts in words, the same wherever they are stated: the server's messages, the page's, the batch command's. No Node-only APIs. */

/** "5" or "0.5": a byte limit in MB as messages and the page show it. */
export function megabytes(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1);
}

/**
 * "25,000": a count with thousands separators, whatever the machine's locale. Whole numbers are
 * grouped here rather than by toLocaleString, whose first call loads ICU's locale data (about 20 ms
 * of the batch command's start-up).
 */
export function count(n: number): string {
  if (!Number.isSafeInteger(n)) return n.toLocaleString('en-US');
  const digits = String(Math.abs(n));
  let out = digits.slice(0, digits.length % 3 || 3);
  for (let i = out.length; i < digits.length; i += 3) out += `,${digits.slice(i, i + 3)}`;
  return n < 0 ? `-${out}` : out;
}
