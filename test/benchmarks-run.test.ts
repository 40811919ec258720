import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// The benchmarks are not tests: this only checks that every script still runs, with counts so
// small that none of their figures means anything. No figure is compared with a target here.
// The ones under valgrind's callgrind are left out (--callgrind=false); `npm run test:long` runs them.

const root = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'poolscope-bench-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

// The comparison libraries live in bench/'s own dependencies (`npm ci --prefix bench`, which CI
// runs); without them the benchmarks run without those comparisons.
const otelInstalled = existsSync(join(root, 'bench/node_modules/@opentelemetry/instrumentation-undici'));
const otelHttpInstalled = existsSync(join(root, 'bench/node_modules/@opentelemetry/instrumentation-http'));
if (process.env.CI === 'true') assert.ok(otelInstalled && otelHttpInstalled, 'CI installs bench/ dependencies');

interface Summary { median: number; p25: number; p75: number }

function assertSummary(summary: Summary, what: string): void {
  for (const key of ['median', 'p25', 'p75'] as const) assert.ok(Number.isFinite(summary[key]), `${what}: ${key} is a number`);
}

it('runs every benchmark with tiny counts and prints one table', { timeout: 300_000 }, async (t) => {
  if (!otelInstalled) t.diagnostic('bench/ dependencies not installed: instrumentation-undici is left out');
  if (!otelHttpInstalled) t.diagnostic('bench/ dependencies not installed: instrumentation-http is left out');
  const out = join(scratch, 'results.json');
  const { stdout } = await run(process.execPath, ['bench/run.mjs', '--smoke', '--callgrind=false', `--out=${out}`], {
    cwd: root, timeout: 280_000, maxBuffer: 16 * 1024 * 1024,
  });
  const { results } = JSON.parse(readFileSync(out, 'utf8'));
  const table = stdout.split('\n').filter((line) => line.startsWith('| '));
  for (const benchmark of ['replay', 'e2e', 'e2e processes', 'memory', 'scrape']) {
    assert.ok(table.some((line) => line.startsWith(`| ${benchmark} `)), `the table has ${benchmark} rows`);
  }

  for (const kind of ['keepAlive', 'newConnection']) {
    for (const mode of ['none', 'noop', 'clock', 'poolscope']) {
      assertSummary(results.replay.kinds[kind].modes[mode].total, `replay ${kind} ${mode}`);
      assertSummary(results.replay.kinds[kind].cold.modes[mode].total, `replay ${kind} ${mode}, caches evicted`);
    }
    assert.equal('otel' in results.replay.kinds[kind].modes, otelInstalled);
  }

  // Every client, protocol and connection kind ran with and without each agent, each client with
  // its own stack's OpenTelemetry instrumentation only: node:http's `http.request()` with
  // instrumentation-http, undici's clients and both fetch()es with instrumentation-undici.
  assert.equal(results.e2e.scenarios.length, 10);
  for (const scenario of results.e2e.scenarios) {
    assertSummary(scenario.cpuPerRequest, scenario.name);
    assertSummary(scenario.overhead.poolscope, `${scenario.name} poolscope`);
    const [ours, other, installed] = scenario.stack === 'node:http' ? ['otel-http', 'otel', otelHttpInstalled] : ['otel', 'otel-http', otelInstalled];
    if (installed) assertSummary(scenario.overhead[ours], `${scenario.name} ${ours}`);
    else assert.equal(scenario.overhead[ours], undefined);
    assert.equal(scenario.overhead[other], undefined, `${scenario.name}: not ${other}`);
  }
  const httpRequest = results.e2e.scenarios.filter((s: { stack: string }) => s.stack === 'node:http');
  assert.deepEqual(httpRequest.map((s: { name: string }) => s.name), ['http.request(), HTTP/1.1, keep-alive']);
  // Its row in the table, against instrumentation-http.
  const httpRow = table.find((line) => line.startsWith('| e2e ') && line.includes('| http.request(), HTTP/1.1, keep-alive ('));
  assert.ok(httpRow !== undefined, 'the table has the http.request() row');
  assert.match(httpRow, /poolscope [+-]\d/);
  assert.match(httpRow, /< instrumentation-http +\| (yes|no) +\|$/);
  if (otelHttpInstalled) assert.match(httpRow, /instrumentation-http [+-]\d/);

  // The process-per-run harness: its one scenario, each mode against nothing subscribed.
  assert.deepEqual(results.e2eProcesses.scenarios.map((s: { key: string }) => s.key), ['request-h1-new']);
  for (const scenario of results.e2eProcesses.scenarios) {
    assertSummary(scenario.cpuPerRequest.none, `${scenario.name}, a process per run`);
    assertSummary(scenario.overhead.poolscope, `${scenario.name} poolscope, a process per run`);
    assert.equal('otel' in scenario.overhead, otelInstalled);
  }

  // The soak's census and counts are exact, whatever the machine: maxOrigins records plus
  // `_other`, nothing left per request or socket, and the real traffic counted as the server saw it.
  const { memory } = results;
  assert.deepEqual(memory.replay.poolscope.census, {
    originRecords: 21, protocolRecords: 21, histograms: memory.replay.poolscope.census.histograms, requestRecords: 0, socketRecords: 0,
  });
  assert.equal(memory.replay.poolscope.tracked, 21);
  const real = memory.real.poolscope;
  assert.equal(real.requests, 80);
  assert.equal(real.counted.requests, real.truth.requests);
  assert.equal(real.counted.opened, real.truth.connections);

  for (const [scrape, origins] of [[results.scrape, 6], [results.scrapeLarge, 12]] as const) {
    assert.equal(scrape.tracked, origins + 1, 'every origin and `_other` tracked');
    assert.ok(scrape.bytes > 0 && scrape.series > 0);
    assert.ok(Number.isFinite(scrape.longestTaskMs));
  }
  // Two worker threads sent the same traffic to the same origins: their readings add up into
  // the main thread's series, none more. The counts need not be equal: whether an HTTP/1.1 origin's
  // reconnect after `/close` counts as a reopen, with its reopened_after histogram (21 series),
  // depends on timing, and on a busy machine one run of the two had a histogram or two more than
  // the other (1,132, 1,153, 1,195 series). A thread's readings kept apart would double them.
  assert.equal(results.scrapeThreads.threads, 2);
  const { series } = results.scrape;
  assert.ok(Math.abs(results.scrapeThreads.series - series) <= series * 0.1,
    `three threads' traffic, ${results.scrapeThreads.series} series; one thread's, ${series}`);
});

// The instruction counts under callgrind take minutes: test/long/benchmarks-callgrind.long.ts, in
// `npm run test:long`.
