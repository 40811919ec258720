// The benchmarks that count instructions under valgrind's callgrind: a few minutes, so they are
// not in `npm test` but in `npm run test:long` (scripts/test-long.sh), which CI runs once, on the
// project's own Node line, after the matrix. CI installs valgrind; there, a machine without it
// fails here rather than skipping.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'poolscope-callgrind-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const valgrind = await run('valgrind', ['--version']).then(() => true, () => false);
const inCi = process.env.CI === 'true';
const skip = !valgrind && !inCi ? 'valgrind is not installed' : false;
const assertValgrind = () => assert.ok(valgrind, 'valgrind is installed (.ci/run installs it): without it no instruction is counted');

const node = (args: string[]) => run(process.execPath, args, { cwd: root, timeout: 600_000, maxBuffer: 16 * 1024 * 1024 });
/** The one JSON line a benchmark script prints with --json. */
const json = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!);

const SCENARIOS = [
  'undici.request(), HTTP/1.1, keep-alive', 'undici.request(), HTTP/1.1, new connection', 'http.request(), HTTP/1.1, keep-alive',
  'http.request(), HTTP/1.1, new connection',
];

it('bench/run.mjs --smoke counts instructions under callgrind and prints them in its table', { skip, timeout: 900_000 }, async () => {
  assertValgrind();
  const out = join(scratch, 'results.json');
  const { stdout } = await node(['bench/run.mjs', '--smoke', `--out=${out}`]);
  const { results } = JSON.parse(readFileSync(out, 'utf8'));

  // The replay's lifecycles, counted without warm-up: poolscope's handlers, even as bytecode,
  // are several times a lifecycle with nothing subscribed (~80,000 instructions to ~16,000).
  const { callgrind } = results;
  assert.equal(callgrind?.available, true, 'callgrind ran');
  assert.deepEqual(Object.keys(callgrind.perLifecycle), ['none', 'poolscope']);
  assert.ok(callgrind.perLifecycle.none > 0, `nothing subscribed: ${callgrind.perLifecycle.none} instructions per lifecycle, more than none`);
  assert.ok(callgrind.perLifecycle.poolscope > callgrind.perLifecycle.none,
    `poolscope: ${callgrind.perLifecycle.poolscope} instructions per lifecycle, more than nothing subscribed's ${callgrind.perLifecycle.none}`);
  assert.ok(callgrind.allocatedPerLifecycle.none > 0);
  assert.ok(callgrind.allocatedPerLifecycle.poolscope > callgrind.allocatedPerLifecycle.none, 'poolscope allocates per lifecycle');

  // End to end, the smoke's 20 requests after 20 of warm-up count V8 compiling more than the
  // requests (the instructions are not compared here, the next test does): every count is taken,
  // none lost to a collection, and poolscope's objects are in the bytes allocated.
  const { e2eCallgrind } = results;
  assert.equal(e2eCallgrind?.available, true, 'e2e callgrind ran');
  assert.deepEqual(e2eCallgrind.scenarios.map((s: { name: string }) => s.name), SCENARIOS);
  for (const { name, perRequest, allocatedPerRequest, overhead } of e2eCallgrind.scenarios) {
    for (const mode of ['none', 'poolscope']) assert.ok(Number.isFinite(perRequest[mode]), `${name}, ${mode}: instructions counted`);
    assert.ok(Number.isFinite(overhead.poolscope), `${name}: poolscope's share`);
    assert.ok(allocatedPerRequest.none > 0, `${name}: bytes allocated with nothing subscribed`);
    assert.ok(allocatedPerRequest.poolscope > allocatedPerRequest.none, `${name}: poolscope allocates per request`);
  }

  // The table: a line of instructions for each mode, and for each scenario its count with nothing
  // subscribed and what each mode added, against the target.
  const table = stdout.split('\n').filter((line) => line.startsWith('| '));
  const rows = (benchmark: string) => table.filter((line) => line.startsWith(`| ${benchmark} `)).map((line) => line.split('|')[2]!.trim());
  assert.deepEqual(rows('callgrind'), ['none, instructions per keep-alive lifecycle', 'poolscope, instructions per keep-alive lifecycle']);
  assert.deepEqual(rows('e2e callgrind'), SCENARIOS.flatMap((name) => [`${name}: instructions per request, nothing subscribed`, `${name}: added`]));
  for (const line of table.filter((l) => l.startsWith('| e2e callgrind ') && l.includes(': added'))) {
    assert.match(line, /poolscope [+-]?\d/, 'poolscope\'s share printed');
    assert.match(line, /\| (yes|no) +\|$/, 'against the target');
  }
});

it('counts end-to-end instructions per request past the first compiles, poolscope\'s above nothing subscribed', { skip, timeout: 900_000 }, async () => {
  assertValgrind();
  // 2,000 requests of warm-up (400 for new connections) leave few compiles in the counts, and the
  // figures are a request's. Six runs here: keep-alive ~144,000 instructions with nothing
  // subscribed (within 150 of each other), poolscope 3,500-8,500 more; a new connection
  // 942,000-973,000, poolscope 29,000-70,000 more: that gap is no wider than nothing
  // subscribed's own spread, so only its allocation is compared. node:http's keep-alive
  // `http.request()` is compared as undici's keep-alive request is. One run of each, ~2 minutes.
  const result = json((await node([
    'bench/e2e-callgrind.mjs', '--modes=none,poolscope', '--scenarios=request-h1,request-h1-new,http-request,http-request-new',
    '--requests=200', '--warmup=2000', '--base=100', '--runs=1', '--json',
  ])).stdout);
  assert.equal(result.available, true);
  assert.deepEqual(result.scenarios.map((s: { name: string }) => s.name), SCENARIOS);
  for (const { key, name, perRequest, allocatedPerRequest } of result.scenarios) {
    // A request through undici on loopback is tens of thousands of instructions at the least, and
    // no more than a few million even with a compile in the count.
    for (const mode of ['none', 'poolscope']) {
      assert.ok(perRequest[mode] > 20_000 && perRequest[mode] < 5_000_000, `${name}, ${mode}: ${perRequest[mode]} instructions per request`);
    }
    if (key === 'request-h1' || key === 'http-request') {
      assert.ok(perRequest.poolscope > perRequest.none, `${name}: poolscope ${perRequest.poolscope} instructions per request, nothing subscribed ${perRequest.none}`);
    }
    assert.ok(allocatedPerRequest.poolscope > allocatedPerRequest.none,
      `${name}: poolscope allocates per request (${allocatedPerRequest.poolscope} bytes, nothing subscribed ${allocatedPerRequest.none})`);
  }
});
