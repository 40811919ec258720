import { readSync, writeSync } from 'node:fs';

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
    writeSync(1, `${WARM_MARKER}\n`);
    waitForGo();
  }
  const heapBefore = process.memoryUsage().heapUsed;
  return function closeWindow() {
    const allocated = process.memoryUsage().heapUsed - heapBefore;
    // Whether a collection ran in between, callgrindInstructions() reads from V8's --trace-gc:
    // watching with a PerformanceObserver cost ~900 instructions per replayed request.
    if (process.env.POOLSCOPE_BENCH_WARM_SIGNAL === '1') writeSync(1, `${ALLOCATED_MARKER} ${allocated}\n`);
    return allocated;
  };
}

/**
 * Blocks until the parent writes a line to standard input, read straight from the file
 * descriptor: the first use of `process.stdin` or `process.stdout` makes stream objects of new
 * shapes, and the hot stream functions of the request path, fed them, were deoptimized at the
 * start of every count (~100 deoptimizations, 160 million instructions in an HTTP/2 client's
 * count of 1,500 requests).
 */
function waitForGo() {
  const byte = Buffer.alloc(1);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      if (readSync(0, byte, 0, 1, null) === 0 || byte[0] === 0x0a) return;
    } catch (error) {
      if (error.code !== 'EAGAIN' && error.code !== 'EINTR') throw error;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}
