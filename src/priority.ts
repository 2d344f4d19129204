/**
 * Thread priorities (Linux): background work (inference threads, libvips' decoding threads) runs
 * at a higher nice value than the event loop, so that when the cores are busy the event loop,
 * which answers /healthz and every cheap request, gets them first. On Linux setpriority() takes a
 * thread id and changes that thread only. Elsewhere, or without the permission, these do nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Sets the nice value of the calling thread. */
export function niceThisThread(nice: number): void {
  try {
    const tid = Number(path.basename(fs.readlinkSync('/proc/thread-self')));
    if (Number.isInteger(tid) && tid > 0) os.setPriority(tid, nice);
  } catch {
    // not Linux, or not allowed: run at normal priority
  }
}

/**
 * Keeps this process's threads named `name` (e.g. libvips' "libvips worker", which libvips
 * starts as it needs them) at `nice`: now, and every `everyMs` for threads started since.
 * Returns a function that stops watching.
 */
export function niceThreadsNamed(name: string, nice: number, everyMs = 1000): () => void {
  const done = new Set<string>();
  const scan = (): void => {
    let tasks: string[];
    try {
      tasks = fs.readdirSync('/proc/self/task');
    } catch {
      return; // not Linux
    }
    for (const tid of tasks) {
      if (done.has(tid)) continue;
      try {
        if (fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() !== name) continue;
        os.setPriority(Number(tid), nice);
        done.add(tid);
      } catch {
        // the thread has just exited, or we may not change it
      }
    }
  };
  scan();
  const timer = setInterval(scan, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
