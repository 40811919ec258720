import { openSync, readSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

/**
 * Watches how long this process's event loop is blocked while `work` runs: Node's
 * `monitorEventLoopDelay` (1 ms resolution) and, finer, the longest gap between two turns of
 * a `setImmediate` chain, which is the longest task that ran in between. Garbage collection
 * pauses are reported beside them: a long task may be one.
 *
 * On a machine shared with other work, a gap may also be time the thread was ready to run and
 * waited for a CPU. Where Linux says how long that was (`/proc/thread-self/schedstat`), gaps are
 * also counted without it, per period: `work` is handed a function that starts a new one (a
 * scrape, say), and `periodsOnCpuMs` is the longest such gap of each, the time before the first
 * left out.
 */
export async function watchBlocking(work) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const waited = cpuWaitClock();
  let longestGap = 0;
  const periods = [];
  let periodOnCpu = 0;
  const newPeriod = () => {
    periods.push(periodOnCpu);
    periodOnCpu = 0;
  };
  let last = performance.now();
  let lastWaited = waited?.() ?? 0;
  let watching = true;
  const tick = () => {
    // The last turn comes after `work` ended, when its caller has run on: not `work`'s time.
    if (!watching) return;
    const now = performance.now();
    const waitedNow = waited?.() ?? 0;
    const gap = now - last;
    if (gap > longestGap) longestGap = gap;
    const onCpu = gap - (waitedNow - lastWaited);
    if (onCpu > periodOnCpu) periodOnCpu = onCpu;
    last = now;
    lastWaited = waitedNow;
    setImmediate(tick);
  };
  setImmediate(tick);
  let longestGcMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if (entry.duration > longestGcMs) longestGcMs = entry.duration;
  });
  gc.observe({ entryTypes: ['gc'] });
  let value;
  try {
    value = await work(newPeriod);
  } finally {
    watching = false;
    histogram.disable();
    gc.disconnect();
  }
  return {
    value,
    longestTaskMs: longestGap,
    periodsOnCpuMs: waited === undefined ? undefined : [...periods.slice(1), periodOnCpu],
    longestGcMs,
    delayMaxMs: histogram.max / 1e6,
    delayP99Ms: histogram.percentile(99) / 1e6,
  };
}

/** Milliseconds this thread has waited for a CPU while ready to run, or undefined where Linux does not say. */
function cpuWaitClock() {
  let fd;
  try {
    fd = openSync('/proc/thread-self/schedstat', 'r');
  } catch {
    return undefined;
  }
  const buffer = Buffer.alloc(64);
  // "<run time> <time waiting on a run queue> <time slices>", nanoseconds; read with no garbage
  // made, which would bring on the very GC this watches.
  return () => {
    const length = readSync(fd, buffer, 0, 64, 0);
    let at = buffer.indexOf(0x20) + 1;
    let nanoseconds = 0;
    while (at < length && buffer[at] !== 0x20) nanoseconds = nanoseconds * 10 + buffer[at++] - 0x30;
    return nanoseconds / 1e6;
  };
}
