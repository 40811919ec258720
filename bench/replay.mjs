/**
 * Replay micro-benchmark: publishes recorded undici event sequences straight into the
 * diagnostics channels and times them, with nothing subscribed, with a no-op subscriber (the
 * floor), with poolscope and with @opentelemetry/instrumentation-undici. Modes alternate
 * within each round; figures are medians over rounds with their spread.
 *
 *   node bench/replay.mjs [--lifecycles=10000] [--rounds=15] [--json]
 *   node bench/replay.mjs --only=poolscope --count=20000   (one mode, for callgrind)
 */
import { MODES, otelAvailable } from './lib/modes.mjs';
import { connectEvents, newSocket, recordLifecycles, replay, replayable } from './lib/recording.mjs';
import { emit, fmt, parseArgs, rotated, summary } from './lib/stats.mjs';
import { countedWindow } from './lib/warm-signal.mjs';

const options = parseArgs({ lifecycles: 10_000, settle: 5_000, rounds: 15, json: false, only: '', count: 0, warmup: 20_000, otel: true });

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

/**
 * Times `count` lifecycles of one kind, in nanoseconds per lifecycle. The request objects and
 * messages are made inside the timed loop, as undici makes them, and die as young as undici's;
 * sockets live long in reality and are made beforehand.
 */
function time(kind, count) {
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
  const modes = ['none', 'noop', 'poolscope', ...('baseline' in MODES ? ['baseline'] : []), ...(otelAvailable() && options.otel ? ['otel'] : [])];
  const samples = {};
  for (const kind of Object.keys(KINDS)) samples[kind] = Object.fromEntries(modes.map((mode) => [mode, []]));
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
        await leave();
        if (round > 0) samples[kind][mode].push(nanoseconds);
      }
    }
  }
  const result = { benchmark: 'replay', lifecycles: options.lifecycles, rounds: options.rounds, kinds: {} };
  const lines = [`replay: ${options.lifecycles} lifecycles per run, ${options.rounds} rounds, modes interleaved; median ns per lifecycle [p25-p75]`];
  for (const [kind, description] of Object.entries(KINDS)) {
    const perMode = samples[kind];
    const floor = perMode.noop.map((ns, i) => ns - perMode.none[i]);
    const entry = { description, modes: {}, floor: summary(floor) };
    lines.push(`  ${description}`);
    for (const mode of modes) {
      // Per round: the mode's cost above nothing-subscribed, and that over the no-op floor.
      const added = perMode[mode].map((ns, i) => ns - perMode.none[i]);
      const overFloor = added.map((ns, i) => ns / floor[i]);
      entry.modes[mode] = { total: summary(perMode[mode]), added: summary(added), overFloor: summary(overFloor) };
      const t = entry.modes[mode];
      lines.push(`    ${MODES[mode].label.padEnd(26)} ${fmt.ns(t.total.median).padStart(9)} total, ${fmt.ns(t.added.median).padStart(8)} added` +
        (mode === 'none' || mode === 'noop' ? '' : `, ${fmt.ratio(t.overFloor.median)} the floor [${fmt.ratio(t.overFloor.p25)}-${fmt.ratio(t.overFloor.p75)}]`));
    }
    result.kinds[kind] = entry;
  }
  emit(result, lines, options.json);
}
