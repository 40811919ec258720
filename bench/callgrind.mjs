/**
 * Instruction counts of the replay micro-benchmark under `valgrind --tool=callgrind`: the same
 * on a busy machine as on an idle one. Each mode runs twice, with two lifecycle counts after the
 * same warm-up; the difference in instructions over the difference in lifecycles is one
 * lifecycle.
 *
 * The warm-up is long enough that V8 optimizes nothing more inside the counts: with 20,000
 * lifecycles of it, TurboFan still compiled poolscope's handlers once more inside one count,
 * ~700 instructions per lifecycle of compiling that the steady state does not pay. A count that
 * holds a compile is named on stderr.
 *
 *   node bench/callgrind.mjs [--modes=none,noop,clock,poolscope] [--count=20000] [--warmup=60000] [--json]
 */
import { fileURLToPath } from 'node:url';
import { callgrindInstructions, valgrindAvailable } from './lib/processes.mjs';
import { emit, parseArgs } from './lib/stats.mjs';

const options = parseArgs({ modes: 'none,noop,clock,poolscope', count: 20_000, warmup: 60_000, json: false });

const replayScript = fileURLToPath(new URL('./replay.mjs', import.meta.url));

const instructions = (mode, count) =>
  callgrindInstructions([replayScript, `--only=${mode}`, `--warmup=${options.warmup}`, `--count=${count}`]);

if (!valgrindAvailable()) {
  emit({ benchmark: 'callgrind', available: false }, ['callgrind: valgrind is not installed; skipped'], options.json);
} else {
  const modes = options.modes.split(',');
  const perLifecycle = {};
  /** Bytes allocated per lifecycle, the replay's own request objects and messages included. */
  const allocatedPerLifecycle = {};
  for (const mode of modes) {
    // The two runs count instructions, not time: running them side by side changes nothing.
    const [without, withCount] = await Promise.all([instructions(mode, 0), instructions(mode, options.count)]);
    if (withCount.compiles > without.compiles) {
      process.stderr.write(`callgrind: V8 optimized ${withCount.compiles - without.compiles} more function(s) inside the count of ${mode}; ` +
        'its figure holds that compiling: a longer --warmup leaves it out\n');
    }
    perLifecycle[mode] = (withCount.instructions - without.instructions) / options.count;
    allocatedPerLifecycle[mode] = withCount.allocated / options.count;
  }
  const added = (mode) => perLifecycle[mode] - (perLifecycle.none ?? 0);
  const result = { benchmark: 'callgrind', available: true, count: options.count, warmup: options.warmup, perLifecycle, allocatedPerLifecycle };
  const lines = [`callgrind: instructions per keep-alive lifecycle (${options.count} lifecycles after ${options.warmup} of warm-up)`];
  for (const mode of modes) {
    lines.push(`  ${mode.padEnd(10)} ${Math.round(perLifecycle[mode]).toLocaleString('en-US').padStart(8)} total, ${Math.round(added(mode)).toLocaleString('en-US').padStart(8)} added, ` +
      `${Math.round(allocatedPerLifecycle[mode]).toLocaleString('en-US').padStart(6)} bytes allocated`);
  }
  if (perLifecycle.noop !== undefined && perLifecycle.poolscope !== undefined) {
    result.overFloor = added('poolscope') / added('noop');
    lines.push(`  poolscope / no-op floor: ${result.overFloor.toFixed(1)}x`);
  }
  emit(result, lines, options.json);
}
