/**
 * Memory and CPU time of a process tree from Linux /proc: shared by the load benchmark, the batch
 * bench and the batch check.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** Bytes as whole MB, for the reports. */
export const mb = (bytes: number): string => (bytes / 1048576).toFixed(0);

/** A process and all its descendants (Linux /proc). */
export function processTree(pid: number): number[] {
  const out = [pid];
  try {
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      const children = fs.readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      for (const child of children.split(/\s+/).filter(Boolean)) out.push(...processTree(Number(child)));
    }
  } catch {
    // the process has just exited
  }
  return out;
}

/**
 * Memory of a process tree, in bytes: PSS summed (each page shared between the processes, such as
 * node's and onnxruntime's code, split between them: what the tree really occupies, and what a
 * dyno's memory cgroup counts; the serving target) and RSS summed (shared pages counted once per
 * process).
 */
export function treeMemory(pid: number): { rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  for (const p of processTree(pid)) {
    try {
      rss += Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) * 1024;
      pss += Number(/^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'))?.[1] ?? 0) * 1024;
    } catch {
      // exited between listing and reading
    }
  }
  return { rss, pss };
}

/**
 * Samples treeMemory(`pid`) every `everyMs` until stop(), which returns the peaks (0 if no sample
 * was taken): the memory of a command run to its end.
 */
export function samplePeakMemory(pid: number, everyMs = 100): { stop(): { rss: number; pss: number } } {
  const peak = { rss: 0, pss: 0 };
  const sampler = setInterval(() => {
    const m = treeMemory(pid);
    peak.rss = Math.max(peak.rss, m.rss);
    peak.pss = Math.max(peak.pss, m.pss);
  }, everyMs);
  return {
    stop: () => {
      clearInterval(sampler);
      return peak;
    },
  };
}

/** CPU time (user + system, all threads) used so far by a process tree, in ms. */
export function treeCpuMs(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const fields = fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited
    }
  }
  return (ticks * 1000) / clockTicks();
}

let clkTck: number | undefined;

/** The kernel's clock ticks per second (/proc counts CPU time in them), asked once when first needed. */
function clockTicks(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}
