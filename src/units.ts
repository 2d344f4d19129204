/** Sizes and counts in words, the same wherever they are stated: the server's messages, the page's, the batch command's. No Node-only APIs. */

/** "5" or "0.5": a byte limit in MB as messages and the page show it. */
export function megabytes(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1);
}

/** "25,000": a count with thousands separators, whatever the machine's locale. */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}
