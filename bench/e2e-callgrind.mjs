/**
 * End-to-end instruction counts: the client of sequential `undici.request()`, `fetch()` and
 * `http.request()` calls on loopback, run under `valgrind --tool=callgrind` in each mode, the server in another process.
 * Like bench/callgrind.mjs, each mode runs twice with two request counts after the same warm-up;
 * the difference over the difference in requests is one request's user-space instructions
 * (kernel time, a large part of a request's CPU, is not counted, so poolscope's share of the
 * real cost is smaller than shown). The same on a busy machine as on an idle one.
 *
 * The warm-up is long because a service's steady state is TurboFan's code: undici's request path
 * and poolscope's handlers reach it between 10,000 and 15,000 keep-alive requests (--trace-opt),
 * and until then run Maglev's, which was 25% more instructions per request with nothing
 * subscribed. A new connection per request warms up for its share of that (3,000 by default), and
 * poolscope's handlers reach TurboFan only after 10,000-14,000 such requests: that scenario's
 * figure is their Maglev code (BENCHMARKS.md). valgrind runs the warm-up without counting, and
 * no scavenge lands in the count: the bytes allocated are reported beside the instructions
 * instead (bench/lib/warm-signal.mjs).
 *
 * Which code V8 has compiled by the count differs from process to process, and more between
 * invocations of this script than between the runs of one: nothing subscribed counted 153,139
 * and 169,669 instructions per keep-alive request in two invocations, more than the differences
 * measured. So modes are compared within one invocation, each counted `--runs` times, its figure
 * the median printed with the lowest and highest.
 *
 *   node bench/e2e-callgrind.mjs [--modes=none,noop,clock,poolscope,otel,otel-http]
 *                                [--scenarios=request-h1,fetch-h1,builtin-fetch-h1,request-h2,request-h1-new,http-request,http-request-new]
 *                                [--requests=1500] [--warmup=15000] [--runs=3] [--app-listens=false] [--json]
 *
 * Each OpenTelemetry instrumentation runs with its own stack's scenarios only (`otel`,
 * instrumentation-undici, with undici's and `fetch()`; `otel-http`, instrumentation-http, with
 * `http.request()`), and where it is installed.
 * `--app-listens=false`: the client listens on no port of its own (bench/lib/app-server.mjs).
 * Every client has Node choose its AsyncLocalStorage implementation first (bench/lib/modes.mjs);
 * `POOLSCOPE_BENCH_LATE_ASYNC_CONTEXT=1` leaves the choice to Node, as an app without poolscope does.
 * `--cache-sim`: valgrind also simulates the caches (several times slower), and each mode's
 * cache misses per request are printed beside its instructions: where the instructions are
 * alike and the time is not, they say which cache the difference is in (valgrind's model of
 * this CPU's caches, not the CPU itself).
 */
import { fileURLToPath } from 'node:url';
import { modeAvailable, runsOn } from './lib/modes.mjs';
import { callgrindInstructions, startServerProcess, valgrindAvailable } from './lib/processes.mjs';
import { listenForScenarios, scenariosNamed } from './lib/scenarios.mjs';
import { emit, parseArgs, summary } from './lib/stats.mjs';

const options = parseArgs({
  modes: 'none,noop,clock,poolscope,otel,otel-http', scenarios: 'request-h1,fetch-h1,builtin-fetch-h1,request-h2,request-h1-new,http-request,http-request-new',
  requests: 1500, warmup: 15_000, base: 200, runs: 3, appListens: true, cacheSim: false, json: false,
});
const client = fileURLToPath(new URL('./lib/e2e-client.mjs', import.meta.url));

if (!valgrindAvailable()) {
  emit({ benchmark: 'e2e-callgrind', available: false }, ['e2e-callgrind: valgrind is not installed; skipped'], options.json);
} else {
  const server = await startServerProcess(1);
  const scenarios = [];
  try {
    const urls = await listenForScenarios(server);
    const available = options.modes.split(',').filter(modeAvailable);
    for (const scenario of scenariosNamed(options.scenarios)) {
      const modes = available.filter((mode) => runsOn(mode, scenario.stack));
      const scaled = (n) => Math.max(1, Math.round(n * scenario.share));
      const [base, requests] = [scaled(options.base), scaled(options.requests)];
      const instructions = (mode, count) => callgrindInstructions([
        client, `--url=${urls[scenario.protocol]}`, `--client=${scenario.client}`, `--connection=${scenario.connection}`,
        `--mode=${mode}`, `--warmup=${scaled(options.warmup * (scenario.warmupScale ?? 1))}`, `--count=${count}`, `--app-listens=${options.appListens}`,
      ], { cacheSim: options.cacheSim });
      const counted = Object.fromEntries(modes.map((mode) => [mode, { instructions: [], allocated: [], misses: [], compiledIn: 0 }]));
      // Runs interleave the modes. A run whose count held a collection gives no figure (NaN).
      for (let run = 0; run < options.runs; run++) {
        for (const mode of modes) {
          const [fewer, more] = await Promise.all([instructions(mode, base), instructions(mode, base + requests)]);
          const perRequestOfRun = (more.instructions - fewer.instructions) / requests;
          if (Number.isNaN(perRequestOfRun)) continue;
          if (more.compiles !== fewer.compiles) {
            counted[mode].compiledIn++;
            process.stderr.write(`e2e-callgrind: V8 optimized ${more.compiles} function(s) inside the longer count of ${scenario.key} ${mode}, ` +
              `${fewer.compiles} inside the shorter: the figure holds the difference's compiling\n`);
          }
          counted[mode].instructions.push(perRequestOfRun);
          counted[mode].allocated.push((more.allocated - fewer.allocated) / requests);
          if (more.misses !== undefined) {
            counted[mode].misses.push(Object.fromEntries(Object.keys(more.misses).map((event) => [event, (more.misses[event] - fewer.misses[event]) / requests])));
          }
        }
      }
      const spread = Object.fromEntries(modes.map((mode) => [mode, summary(counted[mode].instructions)]));
      const perRequest = Object.fromEntries(modes.map((mode) => [mode, spread[mode].median]));
      const allocatedPerRequest = Object.fromEntries(modes.map((mode) => [mode, summary(counted[mode].allocated).median]));
      const overhead = Object.fromEntries(modes.filter((mode) => mode !== 'none').map((mode) => [mode, perRequest[mode] / perRequest.none - 1]));
      // Each event's median over the runs, per request.
      const missesPerRequest = options.cacheSim
        ? Object.fromEntries(modes.map((mode) => [mode, Object.fromEntries(Object.keys(counted[mode].misses[0] ?? {})
          .map((event) => [event, summary(counted[mode].misses.map((run) => run[event])).median]))]))
        : undefined;
      // Runs whose figure holds V8's compiling, per mode: the figure says so wherever it goes.
      const compiledIn = Object.fromEntries(modes.map((mode) => [mode, counted[mode].compiledIn]));
      scenarios.push({ key: scenario.key, name: scenario.name, stack: scenario.stack, requests, runs: options.runs, perRequest, spread, overhead, allocatedPerRequest, missesPerRequest, compiledIn });
    }
  } finally {
    await server.close();
  }
  const lines = [
    'e2e-callgrind: user-space instructions per request of the client, median of ' +
    `${options.runs} runs [lowest-highest] (after ${options.warmup} requests of warm-up, twice as many for fetch() and http.request(); a fifth of the counts for new connections)`,
  ];
  const count = (n) => Math.round(n).toLocaleString('en-US');
  for (const { name, perRequest, spread, overhead, allocatedPerRequest, missesPerRequest, compiledIn } of scenarios) {
    lines.push(`  ${name}`);
    for (const [mode, n] of Object.entries(perRequest)) {
      const added = mode === 'none' ? '' : `${overhead[mode] >= 0 ? '+' : ''}${(overhead[mode] * 100).toFixed(1)}%`;
      const bytes = allocatedPerRequest[mode] - (mode === 'none' ? 0 : allocatedPerRequest.none);
      lines.push(`    ${mode.padEnd(10)} ${count(n).padStart(9)} [${count(spread[mode].min)}-${count(spread[mode].max)}]  ${added.padStart(6)}  ` +
        `${count(allocatedPerRequest[mode]).padStart(7)} bytes allocated${mode === 'none' ? '' : ` (${bytes >= 0 ? '+' : ''}${Math.round(bytes)})`}` +
        `${compiledIn[mode] > 0 ? `; V8 compiled inside the count of ${compiledIn[mode]} of ${options.runs} run(s)` : ''}`);
      if (missesPerRequest !== undefined) {
        const misses = missesPerRequest[mode];
        lines.push(`    ${''.padEnd(10)} cache misses per request: ${Object.entries(misses).map(([event, m]) => {
          const more = m - (missesPerRequest.none[event] ?? 0);
          return `${event} ${count(m)}${mode === 'none' ? '' : ` (${more >= 0 ? '+' : ''}${count(more)})`}`;
        }).join(', ')}`);
      }
    }
  }
  emit({ benchmark: 'e2e-callgrind', available: true, warmup: options.warmup, scenarios }, lines, options.json);
}
