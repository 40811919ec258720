/**
 * Runs every benchmark, each in processes of its own, and prints one table of the figures
 * against the targets. `npm run bench` (builds first). `--smoke` runs each with tiny counts, to
 * check they still work; its figures mean nothing. `--out=file.json` keeps every raw figure;
 * `--from=file.json` prints the table of a run kept that way, without running anything.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { MODES, otelAvailable } from './lib/modes.mjs';
import { canPin, valgrindAvailable } from './lib/processes.mjs';
import { fmt, parseArgs } from './lib/stats.mjs';

const options = parseArgs({ smoke: false, callgrind: true, out: '', from: '' });

const SMOKE = {
  replay: ['--lifecycles=200', '--rounds=1', '--cold-lifecycles=20'],
  callgrind: ['--modes=none,poolscope', '--count=200', '--warmup=0'],
  e2eCallgrind: ['--modes=none,poolscope', '--scenarios=request-h1,request-h1-new,http-request,http-request-new', '--requests=20', '--warmup=20', '--base=10', '--runs=1'],
  e2e: ['--rounds=1', '--keep-alive-requests=20', '--new-connection-requests=3'],
  e2eProcesses: ['--rounds=1', '--warmup=20', '--requests=20'],
  memory: ['--requests=3000', '--origins=200', '--max-origins=20', '--checkpoints=3', '--real-origins=40', '--real-requests=2'],
  scrape: ['--origins=6', '--scrapes=2'],
  scrapeLarge: ['--origins=12', '--scrapes=2'],
  scrapeThreads: ['--origins=6', '--scrapes=2', '--threads=2'],
};

async function run(script, args = [], nodeOptions = []) {
  const started = performance.now();
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [...nodeOptions, fileURLToPath(new URL(script, import.meta.url)), ...args, '--json'], {
    maxBuffer: 64 * 1024 * 1024, timeout: 900_000,
  });
  const result = JSON.parse(stdout.trim().split('\n').at(-1));
  process.stderr.write(`  ${script} ${args.join(' ')}: ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  // What a script says about its own figures (a compile or a collection inside a count) goes with them.
  if (stderr !== '') process.stderr.write(stderr.replace(/^(?=.)/gm, '    '));
  return result;
}

const smoke = (name, args) => (options.smoke ? SMOKE[name] : args);

async function runAll() {
  const started = Date.now();
  const machine = {
    node: process.version, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, loadAverage: loadavg(),
    pinned: canPin, otel: otelAvailable(), date: new Date().toISOString(),
  };
  process.stderr.write(`poolscope benchmarks on ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, load ${machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}\n`);
  const results = {
    replay: await run('replay.mjs', smoke('replay', [])),
    callgrind: options.callgrind && valgrindAvailable() ? await run('callgrind.mjs', smoke('callgrind', [])) : undefined,
    e2e: await run('e2e.mjs', smoke('e2e', [])),
    // A new connection per request only, ~1 minute; the keep-alive scenarios, with the counts
    // they need, take 16 minutes more (`node bench/e2e-processes.mjs --scenarios=...`, BENCHMARKS.md).
    e2eProcesses: await run('e2e-processes.mjs', smoke('e2eProcesses', [])),
    // Four modes of the six (each scenario runs its own stack's instrumentation), four scenarios
    // of the six and one run of each keep this near nine minutes; `node bench/e2e-callgrind.mjs`
    // runs them all three times, for BENCHMARKS.md.
    e2eCallgrind: options.callgrind && valgrindAvailable()
      ? await run('e2e-callgrind.mjs', smoke('e2eCallgrind', [
        '--modes=none,clock,poolscope,otel,otel-http', '--scenarios=request-h1,request-h2,request-h1-new,http-request', '--requests=2000', '--runs=1',
      ]))
      : undefined,
    memory: await run('memory.mjs', smoke('memory', [])),
    scrape: await run('scrape.mjs', smoke('scrape', ['--origins=100'])),
    scrapeLarge: await run('scrape.mjs', smoke('scrapeLarge', ['--origins=1000', '--scrapes=5'])),
    scrapeThreads: await run('scrape.mjs', smoke('scrapeThreads', ['--origins=100', '--threads=4'])),
  };
  machine.seconds = (Date.now() - started) / 1000;
  return { machine, results };
}

const { machine, results } = options.from !== '' ? JSON.parse(readFileSync(options.from, 'utf8')) : await runAll();
if (options.out !== '') writeFileSync(options.out, `${JSON.stringify({ machine, results }, null, 2)}\n`);

const rows = [];
/** The OpenTelemetry instrumentation of an end-to-end scenario's stack (results kept from before stacks were named: undici's). */
const otelModeOf = ({ stack = 'undici' }) => Object.keys(MODES).find((mode) => MODES[mode].instruments === stack);
const row = (benchmark, measure, value, target = '', met = undefined) =>
  rows.push([benchmark, measure, value, target, met === undefined ? '' : met ? 'yes' : 'no']);
/** Bytes allocated, signed when it is a difference; NaN when a collection ran in the count. */
const bytes = (n, signed = true) => (Number.isNaN(n) ? 'n/a' : `${signed && n >= 0 ? '+' : ''}${Math.round(n).toLocaleString('en-US')} B`);
const range = (s, format) => `${format(s.median)} [${format(s.p25)}, ${format(s.p75)}]`;

const keepAlive = results.replay.kinds.keepAlive;
const newConnection = results.replay.kinds.newConnection;
const poolscopeAdded = keepAlive.modes.poolscope.added.median;
row('replay', 'no-op floor, keep-alive lifecycle', range(keepAlive.floor, fmt.ns));
row('replay', 'poolscope, keep-alive lifecycle', range(keepAlive.modes.poolscope.added, fmt.ns));
row('replay', 'poolscope / floor', range(keepAlive.modes.poolscope.overFloor, fmt.ratio), '<= 3x', keepAlive.modes.poolscope.overFloor.median <= 3);
if (keepAlive.modes.clock !== undefined) {
  // What any subscriber that times the four events pays at the least, beside the target.
  row('replay', 'clock reader (one clock read per event, nothing else), keep-alive lifecycle', range(keepAlive.modes.clock.added, fmt.ns));
  row('replay', 'clock reader / floor', range(keepAlive.modes.clock.overFloor, fmt.ratio));
}
if (keepAlive.modes.otel !== undefined) row('replay', 'instrumentation-undici, keep-alive lifecycle', range(keepAlive.modes.otel.added, fmt.ns));
row('replay', 'poolscope, request on a new socket', range(newConnection.modes.poolscope.added, fmt.ns));
if (keepAlive.cold !== undefined) {
  const evicted = `caches evicted before each (${fmt.mib(results.replay.evictedBytes)})`;
  row('replay', `no-op floor, keep-alive lifecycle, ${evicted}`, range(keepAlive.cold.floor, fmt.ns));
  row('replay', `poolscope, keep-alive lifecycle, ${evicted}`, range(keepAlive.cold.modes.poolscope.added, fmt.ns));
  if (keepAlive.cold.modes.otel !== undefined) row('replay', `instrumentation-undici, keep-alive lifecycle, ${evicted}`, range(keepAlive.cold.modes.otel.added, fmt.ns));
  row('replay', `poolscope, request on a new socket, ${evicted}`, range(newConnection.cold.modes.poolscope.added, fmt.ns));
  if (newConnection.cold.modes.otel !== undefined) row('replay', `instrumentation-undici, request on a new socket, ${evicted}`, range(newConnection.cold.modes.otel.added, fmt.ns));
}
if (results.callgrind?.available) {
  const { perLifecycle, allocatedPerLifecycle } = results.callgrind;
  for (const mode of Object.keys(perLifecycle)) {
    row('callgrind', `${mode}, instructions per keep-alive lifecycle`, `${Math.round(perLifecycle[mode] - perLifecycle.none).toLocaleString('en-US')} added, ` +
      `${bytes(allocatedPerLifecycle?.[mode] - allocatedPerLifecycle?.none)} allocated`);
  }
  if (results.callgrind.overFloor !== undefined) row('callgrind', 'poolscope / floor', fmt.ratio(results.callgrind.overFloor), '<= 3x', results.callgrind.overFloor <= 3);
}
const requestKeepAlive = results.e2e.scenarios.find((s) => s.client === 'undici.request()' && s.protocol === 'HTTP/1.1' && s.connection === 'keep-alive');
if (requestKeepAlive !== undefined) {
  const share = poolscopeAdded / requestKeepAlive.cpuPerRequest.median;
  row('replay / e2e', 'poolscope lifecycle / undici.request() keep-alive CPU', `${(share * 100).toFixed(2)}% of ${fmt.us(requestKeepAlive.cpuPerRequest.median)}`, '<= 1%', share <= 0.01);
}
if (results.e2eCallgrind?.available) {
  for (const scenario of results.e2eCallgrind.scenarios) {
    const { name, perRequest, overhead, runs = 1, allocatedPerRequest: allocated = {}, compiledIn = {} } = scenario;
    const compiled = Object.keys(compiledIn).filter((mode) => compiledIn[mode] > 0);
    row('e2e callgrind', `${name}: instructions per request, nothing subscribed`,
      `${Math.round(perRequest.none).toLocaleString('en-US')}, ${bytes(allocated.none, false)} allocated; ${runs === 1 ? 'one run' : `median of ${runs} runs`}` +
      `${compiled.length > 0 ? `; V8 compiled inside the count of ${compiled.join(', ')}` : ''}`);
    const added = (mode) => `${fmt.pct(overhead[mode])} (${bytes(allocated[mode] - allocated.none)})`;
    const parts = [`poolscope ${added('poolscope')}`];
    if (overhead.noop !== undefined) parts.push(`no-op ${added('noop')}`);
    if (overhead.clock !== undefined) parts.push(`clock reader ${added('clock')}`);
    const otel = otelModeOf(scenario);
    if (overhead[otel] !== undefined) parts.push(`${MODES[otel].label} ${added(otel)}`);
    row('e2e callgrind', `${name}: added`, parts.join(', '), `<= +2%, < ${MODES[otel].label}`,
      overhead.poolscope <= 0.02 && (overhead[otel] === undefined || overhead[otel] > overhead.poolscope));
  }
}
/** A timed end-to-end scenario against the targets: `base`, its CPU per request with nothing subscribed. */
function timedRow(benchmark, scenario, base) {
  const { name, overhead } = scenario;
  const otel = otelModeOf(scenario);
  const { poolscope: ours, [otel]: theirs, noop, clock } = overhead;
  const parts = [`poolscope ${range(ours, fmt.pct)}`];
  if (noop !== undefined) parts.push(`no-op ${fmt.pct(noop.median)}`);
  if (clock !== undefined) parts.push(`clock reader ${fmt.pct(clock.median)}`);
  if (theirs !== undefined) parts.push(`${MODES[otel].label} ${fmt.pct(theirs.median)}`);
  row(benchmark, `${name} (${fmt.us(base)})`, parts.join(', '), `<= +2%, < ${MODES[otel].label}`,
    ours.median <= 0.02 && (theirs === undefined || theirs.median > ours.median));
}
for (const s of results.e2e.scenarios) timedRow('e2e', s, s.cpuPerRequest.median);
for (const s of results.e2eProcesses?.scenarios ?? []) timedRow('e2e processes', s, s.cpuPerRequest.none.median);
const memory = results.memory;
const census = memory.replay.poolscope.census;
row('memory', `poolscope's heap after ${memory.options.requests.toLocaleString('en-US')} requests, ${memory.options.origins.toLocaleString('en-US')} origins`,
  `${fmt.mib(memory.poolscopeHeap.warm)} at 10%, ${fmt.mib(memory.poolscopeHeap.end)} at the end`, `bounded by maxOrigins (${memory.options.maxOrigins})`,
  census.originRecords === memory.options.maxOrigins + 1);
row('memory', 'records left after the soak', `${census.originRecords} origins, ${census.requestRecords} requests, ${census.socketRecords} sockets`,
  'maxOrigins + 1, 0, 0', census.originRecords === memory.options.maxOrigins + 1 && census.requestRecords === 0 && census.socketRecords === 0);
row('memory', 'RSS with poolscope, 10% -> end', `${fmt.mib(memory.poolscopeRss.warm)} -> ${fmt.mib(memory.poolscopeRss.end)}`);
if (memory.poolscopeOldSpace !== undefined) {
  // What stays lives in the old generation; the young one is sized by the allocation rate.
  const { warm, end } = memory.poolscopeOldSpace;
  row('memory', 'old generation held by V8 with poolscope, 10% -> end (young generation)',
    `${fmt.mib(warm)} -> ${fmt.mib(end)} (${fmt.mib(memory.poolscopeNewSpace.warm)} -> ${fmt.mib(memory.poolscopeNewSpace.end)})`,
    'flat after warm-up: within 10%', end <= warm * 1.1);
}
const real = memory.real.poolscope;
row('memory', `real traffic: ${real.requests.toLocaleString('en-US')} requests, ${real.origins.toLocaleString('en-US')} origins`,
  `counted ${real.counted.requests} / ${real.counted.opened} connections, server ${real.truth.requests} / ${real.truth.connections}; heap ${fmt.mib(memory.realPoolscopeHeap)}`,
  'equal', real.counted.requests === real.truth.requests && real.counted.opened === real.truth.connections);
for (const scrape of [results.scrape, results.scrapeLarge, results.scrapeThreads]) {
  // Results saved before the worker-thread scrape existed have none.
  if (scrape === undefined) continue;
  const origins = `${scrape.origins} origins${scrape.threads > 0 ? ` in each of ${scrape.threads + 1} threads` : ''}`;
  row('scrape', `${origins}: size, series`, `${fmt.kib(scrape.bytes)}, ${scrape.series.toLocaleString('en-US')} series`);
  row('scrape', `${origins}: time per scrape`, `${fmt.ms(scrape.timeMs.median)} [${fmt.ms(scrape.timeMs.min)}, ${fmt.ms(scrape.timeMs.max)}]`);
  row('scrape', `${origins}: longest event-loop block`, `${fmt.ms(scrape.longestTaskMs)} (longest GC pause ${fmt.ms(scrape.longestGcMs)})`,
    'a few ms', scrape.longestTaskMs <= 5);
  const perScrape = scrape.perScrapeOnCpuMs;
  if (perScrape !== undefined) {
    row('scrape', `${origins}: longest block of each scrape, not counting waits for a CPU`,
      `${fmt.ms(perScrape.median)} [${fmt.ms(perScrape.p25)}, ${fmt.ms(perScrape.p75)}], max ${fmt.ms(perScrape.max)}`, 'a few ms', perScrape.max <= 5);
  }
  row('scrape', `${origins}: first scrape (cold code)`, `${fmt.ms(scrape.first.timeMs)}, longest block ${fmt.ms(scrape.first.longestTaskMs)}`);
}

const header = ['benchmark', 'measure', 'result: median [p25, p75]', 'target', 'met'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log(`\npoolscope benchmarks${options.smoke ? ' (smoke run: figures mean nothing)' : ''}: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ` +
  `${machine.pinned ? 'client and server pinned to separate cores' : 'no taskset: not pinned'}, load average at start ${machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}, ` +
  `${machine.seconds === undefined ? `from ${options.from}` : `${machine.seconds.toFixed(0)} s`}\n`);
console.log(line(header));
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
for (const r of rows) console.log(line(r));
