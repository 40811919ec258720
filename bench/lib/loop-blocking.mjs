import { openSync, readSync } from 'node:fs';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

/**
 * Watches how long this process's event loop is blocked while `work` runs: Node's
 * `monitorEventLoopDelay` (1 ms resolution) and, finer, the longest gap between two turns of
 * a `setImmediate` chain, which is the longest task that ran in between. Garbage collection
 * pauses are reported beside them: a long task may be one.
 *
 * `work` is handed a function that starts a new period (a scrape, say): `periods` has the
 * longest gap of each, the time before the first left out. On a machine shared with other work,
 * a gap may also be time the thread was ready to run and waited for a CPU; where Linux says how
 * long that was (`/proc/thread-self/schedstat`), each period also has its longest gap without
 * it, `onCpuMs`.
 */
export async function watchBlocking(work) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const waited = cpuWaitClock();
  const periods = [];
  let period = { longestMs: 0, onCpuMs: waited === undefined ? undefined : 0 };
  const newPeriod = () => {
    periods.push(period);
    period = { longestMs: 0, onCpuMs: waited === undefined ? undefined : 0 };
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
    if (gap > period.longestMs) period.longestMs = gap;
    if (gap - (waitedNow - lastWaited) > period.onCpuMs) period.onCpuMs = gap - (waitedNow - lastWaited);
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
    periods: [...periods.slice(1), period],
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
