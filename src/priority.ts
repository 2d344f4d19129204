/**
 * Thread priorities (Linux): background work (inference threads, image decoding in libuv's and
 * libvips' threads) runs at a higher nice value than the event loop, so that when the cores are
 * busy the event loop, which answers /healthz and every cheap request, gets them first. On Linux setpriority() takes a
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
 * Keeps every thread of this process but the main one (the event loop) at `nice`: libuv's thread
 * pool, where sharp runs a decode, libvips' own workers, V8's helper threads. Threads start as they
 * are needed, so they are looked for now and every `everyMs`. Returns a function that stops looking.
 */
export function niceBackgroundThreads(nice: number, everyMs = 1000): () => void {
  const done = new Set<string>([String(process.pid)]);
  const scan = (): void => {
    let tasks: string[];
    try {
      tasks = fs.readdirSync('/proc/self/task');
    } catch {
      return; // not Linux
    }
    for (const tid of tasks) {
      if (done.has(tid)) continue;
      done.add(tid);
      try {
        os.setPriority(Number(tid), nice);
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
