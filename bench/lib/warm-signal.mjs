import { createInterface } from 'node:readline';

/** What a benchmark process prints when its warm-up is done, under callgrind. */
export const WARM_MARKER = 'poolscope-bench:warm';
/** What a timed run prints after the counted work, before its figures as JSON. */
export const TIMED_MARKER = 'poolscope-bench:timed';
/** What it prints after the counted work: the bytes that work allocated. */
export const ALLOCATED_MARKER = 'poolscope-bench:allocated';

/**
 * Opens the counted window of a run under `callgrindInstructions`, once the warm-up is done;
 * elsewhere it only empties the young generation. Returns the function that closes it.
 *
 * - valgrind runs the warm-up without counting (10x faster than counting it): the process says
 *   it is warm and waits until counting is on.
 * - A minor collection first, and a young generation large enough for the whole count
 *   (CALLGRIND_V8_FLAGS), so that no scavenge lands in the window. Before, two runs of one mode
 *   caught different numbers of scavenges, each worth thousands of instructions per request
 *   (10 ms of copying apiece in the HTTP/2 client), and that decided the figure more than the
 *   mode did. What a scavenge costs follows from what was allocated, which the window reports
 *   instead: with no collection inside it (callgrindInstructions() checks), the heap's growth is
 *   the allocation.
 * - Not a full collection: one from `gc()` clears the optimized code that embeds the objects it
 *   frees, and every function was then compiled again inside the count.
 */
export async function countedWindow() {
  globalThis.gc?.({ type: 'minor' });
  if (process.env.POOLSCOPE_BENCH_WARM_SIGNAL === '1') {
    process.stdout.write(`${WARM_MARKER}\n`);
    const lines = createInterface({ input: process.stdin });
    await new Promise((resolve) => lines.once('line', resolve));
    lines.close();
    process.stdin.unref?.();
  }
  const heapBefore = process.memoryUsage().heapUsed;
  return function closeWindow() {
    const allocated = process.memoryUsage().heapUsed - heapBefore;
    // Whether a collection ran in between, callgrindInstructions() reads from V8's --trace-gc:
    // watching with a PerformanceObserver cost ~900 instructions per replayed request.
    if (process.env.POOLSCOPE_BENCH_WARM_SIGNAL === '1') process.stdout.write(`${ALLOCATED_MARKER} ${allocated}\n`);
    return allocated;
  };
}
