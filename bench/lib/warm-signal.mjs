import { createInterface } from 'node:readline';

/** What a benchmark process prints when its warm-up is done, under callgrind. */
export const WARM_MARKER = 'poolscope-bench:warm';

/**
 * Under `callgrindInstructions`, valgrind runs the warm-up without counting (10x faster than
 * counting it): the process says it is warm and waits until counting is on. Elsewhere, nothing.
 */
export async function warmedUp() {
  if (process.env.POOLSCOPE_BENCH_WARM_SIGNAL !== '1') return;
  process.stdout.write(`${WARM_MARKER}\n`);
  const lines = createInterface({ input: process.stdin });
  await new Promise((resolve) => lines.once('line', resolve));
  lines.close();
  process.stdin.unref?.();
}
