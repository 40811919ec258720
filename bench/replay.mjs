/**
 * Replay micro-benchmark: publishes recorded undici event sequences straight into the
 * diagnostics channels and times them, with nothing subscribed, with a no-op subscriber (the
 * floor), with a subscriber that only reads the clock at each event (what timing the events
 * costs at the least), with poolscope and with @opentelemetry/instrumentation-undici. Modes
 * alternate within each round; figures are medians over rounds with their spread.
 *
 *   node bench/replay.mjs [--lifecycles=10000] [--rounds=15] [--cold-lifecycles=400] [--json]
 *   node bench/replay.mjs --only=poolscope --count=20000   (one mode, for callgrind)
 *
 * Back to back, every lifecycle finds the subscribers' code and data in the CPU's caches. In an
 * app it does not: undici, Node and the app run between two events. So each run also times
 * `--cold-lifecycles` lifecycles one by one, each after a walk over twice the L2 cache
 * (`--evict-mib`, else read from /sys, else 4 MiB) has pushed them out.
 */
import { readFileSync } from 'node:fs';
import { MODES, otelAvailable } from './lib/modes.mjs';
import { connectEvents, newSocket, recordLifecycles, replay, replayable } from './lib/recording.mjs';
import { emit, fmt, parseArgs, rotated, summary } from './lib/stats.mjs';
import { countedWindow } from './lib/warm-signal.mjs';

const options = parseArgs({
  lifecycles: 10_000, settle: 5_000, rounds: 15, coldLifecycles: 400, evictMib: 0, json: false, only: '', count: 0, warmup: 20_000, otel: true,
});

export const KINDS = {
  keepAlive: 'keep-alive request (create, sendHeaders, headers, trailers on a connected socket)',
  newConnection: 'request on a new socket (connect, request events, socket close)',
};

const recording = await recordLifecycles();
const lifecycles = {
  connect: replayable(connectEvents(recording.newConnection)),
  keepAlive: replayable(recording.keepAlive),
  newConnection: replayable(recording.newConnection),
};

/** Twice the L2 cache this process runs on, in bytes, as Linux tells it; 4 MiB when it does not. */
function evictionBytes() {
  if (options.evictMib > 0) return options.evictMib * 1024 * 1024;
  try {
    const size = readFileSync('/sys/devices/system/cpu/cpu0/cache/index2/size', 'utf8').trim();
    const match = /^(\d+)K$/.exec(size);
    if (match !== null) return 2 * Number(match[1]) * 1024;
  } catch {
    // Not Linux, or no such entry.
  }
  return 4 * 1024 * 1024;
}

const evictionBuffer = new Int32Array(evictionBytes() / 4);
let evictionSink = 0;

/** Loads and stores a word on every 64-byte line of a buffer twice the L2's size. */
function evictCaches() {
  const buffer = evictionBuffer;
  for (let i = 0; i < buffer.length; i += 16) evictionSink += buffer[i]++;
}

/**
 * Times `count` lifecycles of one kind, in nanoseconds per lifecycle. The request objects and
 * messages are made inside the timed loop, as undici makes them, and die as young as undici's;
 * sockets live long in reality and are made beforehand. `cold`: each lifecycle is timed alone,
 * right after the caches were evicted.
 */
function time(kind, count, cold = false) {
  let sockets;
  if (kind === 'keepAlive') {
    const socket = newSocket(recording.socket);
    replay(lifecycles.connect, socket);
    sockets = [socket];
  } else {
    sockets = Array.from({ length: count }, () => newSocket(recording.socket));
  }
  const lifecycle = lifecycles[kind];
  const close = kind === 'newConnection';
  if (cold) {
    let total = 0n;
    for (let i = 0; i < count; i++) {
      evictCaches();
      const started = process.hrtime.bigint();
      replay(lifecycle, sockets[close ? i : 0], undefined, close);
      total += process.hrtime.bigint() - started;
    }
    return Number(total) / count;
  }
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i++) replay(lifecycle, sockets[close ? i : 0], undefined, close);
  return Number(process.hrtime.bigint() - started) / count;
}

if (options.only !== '') {
  // One mode: a warm-up, then `count` lifecycles. Under callgrind, run it with two counts: the
  // difference in instructions over the difference in lifecycles is one lifecycle.
  const leave = await MODES[options.only].enter();
  for (let done = 0; done < options.warmup; done += options.lifecycles) time('keepAlive', options.lifecycles);
  const closeWindow = await countedWindow();
  const nanoseconds = options.count > 0 ? time('keepAlive', options.count) : NaN;
  closeWindow();
  await leave();
  if (options.json) process.stdout.write(`${JSON.stringify({ mode: options.only, count: options.count, nanoseconds })}\n`);
} else {
  const modes = ['none', 'noop', 'clock', 'poolscope', ...('baseline' in MODES ? ['baseline'] : []), ...(otelAvailable() && options.otel ? ['otel'] : [])];
  const samples = {};
  const coldSamples = {};
  for (const kind of Object.keys(KINDS)) {
    samples[kind] = Object.fromEntries(modes.map((mode) => [mode, []]));
    coldSamples[kind] = Object.fromEntries(modes.map((mode) => [mode, []]));
  }
  // Round 0 warms every path up and is not counted.
  for (let round = 0; round <= options.rounds; round++) {
    for (const kind of Object.keys(KINDS)) {
      for (const mode of rotated(modes, round)) {
        const leave = await MODES[mode].enter();
        // Entering a mode deoptimizes code that assumed the previous subscribers, and a
        // collection since may have cleared code that embedded the previous agent: the
        // compilers' work on that is a restart's cost, not a lifecycle's.
        time(kind, options.settle);
        const nanoseconds = time(kind, options.lifecycles);
        const cold = options.coldLifecycles > 0 ? time(kind, options.coldLifecycles, true) : NaN;
        await leave();
        if (round > 0) {
          samples[kind][mode].push(nanoseconds);
          coldSamples[kind][mode].push(cold);
        }
      }
    }
  }
  const result = {
    benchmark: 'replay', lifecycles: options.lifecycles, coldLifecycles: options.coldLifecycles, evictedBytes: evictionBuffer.byteLength, rounds: options.rounds, kinds: {},
  };
  const lines = [`replay: ${options.lifecycles} lifecycles per run, ${options.rounds} rounds, modes interleaved; median ns per lifecycle [p25-p75]`];
  for (const [kind, description] of Object.entries(KINDS)) {
    const entry = { description, ...compared(samples[kind]) };
    lines.push(`  ${description}`, ...shown(entry));
    if (options.coldLifecycles > 0) {
      entry.cold = compared(coldSamples[kind]);
      lines.push(`    caches evicted before each (${options.coldLifecycles} timed one by one, ${fmt.mib(evictionBuffer.byteLength)} walked):`, ...shown(entry.cold));
    }
    result.kinds[kind] = entry;
  }
  emit(result, lines, options.json);
}

/** Per round: each mode's cost above nothing-subscribed, and that over the no-op floor. */
function compared(perMode) {
  const floor = perMode.noop.map((ns, i) => ns - perMode.none[i]);
  const modes = {};
  for (const [mode, runs] of Object.entries(perMode)) {
    const added = runs.map((ns, i) => ns - perMode.none[i]);
    modes[mode] = { total: summary(runs), added: summary(added), overFloor: summary(added.map((ns, i) => ns / floor[i])) };
  }
  return { modes, floor: summary(floor) };
}

function shown({ modes }) {
  return Object.entries(modes).map(([mode, t]) => `    ${MODES[mode].label.padEnd(26)} ${fmt.ns(t.total.median).padStart(9)} total, ${fmt.ns(t.added.median).padStart(8)} added` +
    (mode === 'none' || mode === 'noop' ? '' : `, ${fmt.ratio(t.overFloor.median)} the floor [${fmt.ratio(t.overFloor.p25)}-${fmt.ratio(t.overFloor.p75)}]`));
}
