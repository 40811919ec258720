/**
 * End-to-end client CPU per request with each run in a process of its own: the client of
 * bench/lib/e2e-client.mjs in one mode, pinned to core 0, the server in a child process on
 * core 1, the modes' processes taking turns in a new order each round. No process changes mode,
 * so no run pays for code compiled for another mode's subscribers, and each warms up as long as
 * it needs; what differs from process to process (where V8 puts code and heap) is in the spread.
 * Slower than bench/e2e.mjs, which alternates modes in one process, and steadier for a new
 * connection per request.
 *
 *   node bench/e2e-processes.mjs [--scenarios=request-h1-new] [--modes=none,noop,poolscope,otel,otel-http]
 *                                [--rounds=9] [--warmup=5000] [--requests=7500] [--app-heap-mib=0] [--json]
 *
 * Scenarios are those of bench/lib/scenarios.mjs; `--warmup` and `--requests` are keep-alive
 * counts, scaled down for a new connection per request as there. `--app-heap-mib`: each client
 * holds that much in live objects first, as a service does (bench/lib/e2e-client.mjs). Each
 * OpenTelemetry instrumentation runs with its own stack's scenarios only (bench/lib/modes.mjs).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MODES, modeAvailable, runsOn } from './lib/modes.mjs';
import { canPin, nodeOnCore, startServerProcess } from './lib/processes.mjs';
import { listenForScenarios, scenariosNamed } from './lib/scenarios.mjs';
import { emit, fmt, parseArgs, rotated, summary } from './lib/stats.mjs';
import { TIMED_MARKER } from './lib/warm-signal.mjs';

const options = parseArgs({
  scenarios: 'request-h1-new', modes: 'none,noop,poolscope,otel,otel-http', rounds: 9, warmup: 5000, requests: 7500, appHeapMib: 0, json: false,
});
const client = fileURLToPath(new URL('./lib/e2e-client.mjs', import.meta.url));
const available = options.modes.split(',').filter(modeAvailable);
if (available[0] !== 'none') throw new Error('--modes must start with none: every other mode is compared with it');

/** One client process: its main thread's CPU time per counted request, in nanoseconds. */
async function timedRun(scenario, url, mode) {
  const scaled = (n) => Math.max(1, Math.round(n * scenario.share));
  const args = [
    client, `--url=${url}`, `--client=${scenario.client}`, `--connection=${scenario.connection}`, `--mode=${mode}`,
    `--warmup=${scaled(options.warmup)}`, `--count=${scaled(options.requests)}`, `--app-heap-mib=${options.appHeapMib}`, '--timed',
  ];
  const [command, argv] = nodeOnCore(0, args);
  const { stdout } = await promisify(execFile)(command, argv, { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 });
  const line = stdout.split('\n').find((l) => l.startsWith(TIMED_MARKER));
  if (line === undefined) throw new Error(`the ${mode} client of ${scenario.name} printed no figures: ${stdout.slice(-300)}`);
  return JSON.parse(line.slice(TIMED_MARKER.length)).cpuPerRequest;
}

const started = performance.now();
const server = await startServerProcess(1);
const scenarios = [];
try {
  const urls = await listenForScenarios(server);
  for (const scenario of scenariosNamed(options.scenarios)) {
    const modes = available.filter((mode) => runsOn(mode, scenario.stack));
    const samples = Object.fromEntries(modes.map((mode) => [mode, []]));
    for (let round = 0; round < options.rounds; round++) {
      // One after the other, never side by side: the client has core 0 to itself.
      for (const mode of rotated(modes, round)) samples[mode].push(await timedRun(scenario, urls[scenario.protocol], mode));
    }
    const cpuPerRequest = Object.fromEntries(modes.map((mode) => [mode, summary(samples[mode])]));
    // Per round: each mode's process over the same round's process without any.
    const overhead = Object.fromEntries(modes.slice(1).map((mode) => [mode, summary(samples[mode].map((cpu, i) => cpu / samples.none[i] - 1))]));
    scenarios.push({ key: scenario.key, name: scenario.name, stack: scenario.stack, modes, cpuPerRequest, overhead });
  }
} finally {
  await server.close();
}

const result = { benchmark: 'e2e-processes', rounds: options.rounds, appHeapMib: options.appHeapMib, pinned: canPin, seconds: (performance.now() - started) / 1000, scenarios };
const lines = [
  `e2e-processes: client CPU per request, a process per run, ${options.rounds} round${options.rounds === 1 ? '' : 's'}${canPin ? ', client on core 0, server on core 1' : ''}` +
  `${options.appHeapMib > 0 ? `, ${options.appHeapMib} MiB of the app's own live heap` : ''}; ` +
  'median [p25, p75] over the rounds',
];
for (const { name, modes, cpuPerRequest, overhead } of scenarios) {
  lines.push(`  ${name}: ${fmt.us(cpuPerRequest.none.median)} [${fmt.us(cpuPerRequest.none.p25)}, ${fmt.us(cpuPerRequest.none.p75)}] with nothing subscribed`);
  for (const mode of modes.slice(1)) {
    const o = overhead[mode];
    lines.push(`    ${MODES[mode].label.padEnd(24)} ${fmt.us(cpuPerRequest[mode].median).padStart(9)}  ${fmt.pct(o.median)} [${fmt.pct(o.p25)}, ${fmt.pct(o.p75)}]`);
  }
}
emit(result, lines, options.json);
