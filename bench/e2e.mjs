/**
 * End-to-end overhead: client CPU per request with poolscope, with OpenTelemetry's
 * instrumentation of the client's stack (metrics only: instrumentation-undici for undici and
 * `fetch()`, instrumentation-http for node:http's `http.request()`) and with neither, in one
 * process, the modes alternating within every round. The server runs in a child process pinned
 * to the other core; this process is pinned to core 0. Requests are sequential, on loopback.
 *
 *   node bench/e2e.mjs [--rounds=12] [--keep-alive-requests=300] [--new-connection-requests=40] [--settle=0.25]
 *                      [--modes=none,noop,poolscope,otel,otel-http] [--only=http.request] [--json]
 *
 * `--settle`: untimed requests before each timed run, as a share of its count. `--only`: the
 * scenarios whose name holds that text. `--modes`: those of bench/lib/modes.mjs, `none` first;
 * each instrumentation runs with its own stack's scenarios only.
 */
import { keepNodeGlobalDispatcher } from './lib/node-global-dispatcher.mjs';
import { CLIENTS, closePool, openPool, requestsTo } from './lib/clients.mjs';
import { listenLikeAService } from './lib/app-server.mjs';
import { MODES, modeAvailable, runsOn } from './lib/modes.mjs';
import { canPin, pinSelf, startServerProcess } from './lib/processes.mjs';
import { emit, fmt, mainThreadCpuUsage, parseArgs, rotated, summary } from './lib/stats.mjs';

keepNodeGlobalDispatcher();

const options = parseArgs({
  rounds: 12, keepAliveRequests: 300, newConnectionRequests: 40, settle: 0.25, batchMs: 2000, only: '', modes: 'none,noop,poolscope,otel,otel-http', json: false,
});

const AGENT_OPTIONS = {
  'HTTP/1.1': { keepAliveTimeout: 60_000 },
  'HTTP/2': { keepAliveTimeout: 60_000, allowH2: true, connect: { rejectUnauthorized: false } },
};

const SCENARIOS = [];
for (const client of ['undici.request()', 'undici fetch()']) {
  for (const protocol of ['HTTP/1.1', 'HTTP/2']) {
    for (const connection of ['keep-alive', 'new connection']) SCENARIOS.push({ client, protocol, connection });
  }
}
SCENARIOS.push({ client: 'built-in fetch()', protocol: 'HTTP/1.1', connection: 'keep-alive' });
// node:http through `new http.Agent({ keepAlive: true })`: poolscope's second tap.
SCENARIOS.push({ client: 'http.request()', protocol: 'HTTP/1.1', connection: 'keep-alive' });
const scenarioName = (s) => `${s.client}, ${s.protocol}, ${s.connection}`;

const pinned = pinSelf(0);
const appServer = await listenLikeAService();
const server = await startServerProcess(1);
const { h1, h2 } = await server.request({ type: 'listen', h1: [{ host: '127.0.0.1', port: 0 }], h2: [{ host: '127.0.0.1', port: 0 }] });
const urls = { 'HTTP/1.1': `http://127.0.0.1:${h1[0].port}/items/1`, 'HTTP/2': `https://127.0.0.1:${h2[0].port}/items/1` };


/** Runs one scenario's batch: returns client CPU and wall time per request, in nanoseconds. */
async function batch(scenario, keepAlive) {
  const count = scenario.connection === 'keep-alive' ? options.keepAliveRequests : options.newConnectionRequests;
  // Untimed requests first: entering a mode deoptimizes code that assumed the previous
  // subscribers, and compiling it again is a restart's cost, not a request's. No `gc()` here:
  // a full collection it starts clears optimized code, compiled again inside the timed run.
  const send = requestsTo(scenario.client, urls[scenario.protocol],
    scenario.connection === 'keep-alive' ? keepAlive : undefined, AGENT_OPTIONS[scenario.protocol]);
  for (let i = 0; i < Math.ceil(count * options.settle); i++) await send();
  const deadline = performance.now() + options.batchMs;
  const cpu = mainThreadCpuUsage();
  const started = process.hrtime.bigint();
  let done = 0;
  while (done < count && performance.now() < deadline) {
    await send();
    done++;
  }
  const wall = Number(process.hrtime.bigint() - started);
  const used = mainThreadCpuUsage(cpu);
  return { cpu: ((used.user + used.system) * 1000) / done, wall: wall / done, requests: done };
}

// With the baseline build and the tap alone when the environment adds them (bench/lib/modes.mjs).
const listed = options.modes.split(',');
const modes = [...listed, ...['baseline', 'tap'].filter((m) => m in MODES && !listed.includes(m))].filter(modeAvailable);
if (modes[0] !== 'none') throw new Error('--modes must start with none: every other mode is compared with it');
const scenarios = options.only === '' ? SCENARIOS : SCENARIOS.filter((s) => scenarioName(s).includes(options.only));
/** The modes that run with a scenario: each instrumentation with its own stack's clients only. */
const modesOf = new Map(scenarios.map((s) => [s, modes.filter((m) => runsOn(m, CLIENTS[s.client].stack))]));
const keepAliveAgents = new Map(scenarios.map((s) => [s, openPool(s.client, AGENT_OPTIONS[s.protocol])]));
const samples = new Map(scenarios.map((s) => [s, Object.fromEntries(modesOf.get(s).map((m) => [m, []]))]));
const started = performance.now();
try {
  // Round 0 warms every path up (and opens the keep-alive sockets) and is not counted. The
  // modes' runs of one scenario follow each other, so a change in the machine's load between
  // them is small; their order turns from round to round.
  for (let round = 0; round <= options.rounds; round++) {
    for (const scenario of scenarios) {
      for (const mode of rotated(modesOf.get(scenario), round)) {
        const leave = await MODES[mode].enter();
        const result = await batch(scenario, keepAliveAgents.get(scenario));
        await leave();
        if (round > 0) samples.get(scenario)[mode].push(result);
      }
    }
  }
} finally {
  await Promise.all(Array.from(keepAliveAgents, ([s, pool]) => closePool(s.client, pool)));
  await server.close();
  appServer.close();
}

const result = {
  benchmark: 'e2e', rounds: options.rounds, pinned: pinned && canPin, seconds: (performance.now() - started) / 1000, scenarios: [],
};
const lines = [
  `e2e: client CPU per request, ${options.rounds} rounds, modes interleaved${result.pinned ? ', client on core 0, server on core 1' : ''}`,
  `  ${'scenario'.padEnd(44)} ${'CPU/request'.padStart(11)}  ${modes.slice(1).map((m) => MODES[m].label.padStart(24)).join('  ')}`,
];
for (const scenario of scenarios) {
  const perMode = samples.get(scenario);
  const base = perMode.none.map((s) => s.cpu);
  const entry = { name: scenarioName(scenario), ...scenario, stack: CLIENTS[scenario.client].stack, cpuPerRequest: summary(base), wallPerRequest: summary(perMode.none.map((s) => s.wall)), overhead: {} };
  for (const mode of modesOf.get(scenario).slice(1)) {
    // Per round: this mode's CPU per request over the same round's run without any.
    entry.overhead[mode] = summary(perMode[mode].map((s, i) => s.cpu / base[i] - 1));
  }
  const show = (o) => `${fmt.pct(o.median)} [${fmt.pct(o.p25)}, ${fmt.pct(o.p75)}]`;
  // A mode that does not run with this scenario's client leaves its column empty.
  const cell = (m) => (entry.overhead[m] === undefined ? '' : show(entry.overhead[m]));
  lines.push(`  ${entry.name.padEnd(44)} ${fmt.us(entry.cpuPerRequest.median).padStart(11)}  ${modes.slice(1).map((m) => cell(m).padStart(24)).join('  ')}`);
  result.scenarios.push(entry);
}
emit(result, lines, options.json);
