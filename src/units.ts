/** Sizes in words, the same wherever a limit is stated: the server's messages and the page's. No Node-only APIs. */

/** "5" or "0.5": a byte limit in MB as messages and the page show it. */
export function megabytes(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1);
}
