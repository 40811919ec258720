import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

/**
 * Watches how long this process's event loop is blocked while `work` runs: Node's
 * `monitorEventLoopDelay` (1 ms resolution) and, finer, the longest gap between two turns of
 * a `setImmediate` chain, which is the longest task that ran in between. Garbage collection
 * pauses are reported beside them: a long task may be one.
 */
export async function watchBlocking(work) {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  let longestGap = 0;
  let last = performance.now();
  let watching = true;
  const tick = () => {
    const now = performance.now();
    if (now - last > longestGap) longestGap = now - last;
    last = now;
    if (watching) setImmediate(tick);
  };
  setImmediate(tick);
  let longestGcMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if (entry.duration > longestGcMs) longestGcMs = entry.duration;
  });
  gc.observe({ entryTypes: ['gc'] });
  let value;
  try {
    value = await work();
  } finally {
    watching = false;
    histogram.disable();
    gc.disconnect();
  }
  return {
    value,
    longestTaskMs: longestGap,
    longestGcMs,
    delayMaxMs: histogram.max / 1e6,
    delayP99Ms: histogram.percentile(99) / 1e6,
  };
}
