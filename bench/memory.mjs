/**
 * Memory soak: does poolscope's memory stay bounded by `maxOrigins`, whatever the traffic?
 *
 * - replay: `--requests` request lifecycles (recorded from undici, replayed into the channels)
 *   across `--origins` distinct origins (127.0.x.y on four ports), `--per-socket` requests on
 *   each socket before it closes, `/metrics` scraped at every checkpoint. Heap after GC and RSS
 *   at each checkpoint, then a heap census of poolscope's objects.
 * - real: `--real-origins` origins that really listen (127.0.x.y on four ports, served by a
 *   child process), `--real-requests` requests to each through undici, checked against what
 *   the server counted.
 *
 * Each part runs twice, in fresh processes, without and with poolscope: the difference is
 * poolscope's. `node bench/memory.mjs [--requests=1000000] [--origins=10000] [--max-origins=100] [--json]`
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { emit, fmt, parseArgs } from './lib/stats.mjs';

const options = parseArgs({
  requests: 1_000_000, origins: 10_000, maxOrigins: 100, perSocket: 10, checkpoints: 10,
  realOrigins: 10_000, realRequests: 3, json: false, child: '', mode: '',
});

if (options.child === 'replay') await (await import('./lib/soak-replay.mjs')).soakReplay(options);
else if (options.child === 'real') await (await import('./lib/soak-real.mjs')).soakReal(options);
else {
  const script = fileURLToPath(import.meta.url);
  const run = async (child, mode) => {
    const args = ['--expose-gc', script, `--child=${child}`, `--mode=${mode}`, ...process.argv.slice(2).filter((a) => !a.startsWith('--json'))];
    const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 16 * 1024 * 1024, timeout: 600_000 });
    return JSON.parse(stdout);
  };
  const replay = { none: await run('replay', 'none'), poolscope: await run('replay', 'poolscope') };
  const real = { none: await run('real', 'none'), poolscope: await run('real', 'poolscope') };

  const ours = (part, i) => part.poolscope.checkpoints[i].heapUsed - part.none.checkpoints[i].heapUsed;
  const last = replay.poolscope.checkpoints.length - 1;
  const warm = Math.min(1, last);
  const result = {
    benchmark: 'memory', options: { ...options, child: undefined, mode: undefined, json: undefined }, replay, real,
    poolscopeHeap: { warm: ours(replay, warm), end: ours(replay, last) },
    poolscopeRss: { warm: replay.poolscope.checkpoints[warm].rss, end: replay.poolscope.checkpoints[last].rss },
    poolscopeOldSpace: { warm: replay.poolscope.checkpoints[warm].oldSpace, end: replay.poolscope.checkpoints[last].oldSpace },
    poolscopeNewSpace: { warm: replay.poolscope.checkpoints[warm].newSpace, end: replay.poolscope.checkpoints[last].newSpace },
    realPoolscopeHeap: ours(real, real.poolscope.checkpoints.length - 1),
  };
  const lines = [
    `memory: ${options.requests.toLocaleString('en-US')} replayed requests across ${options.origins.toLocaleString('en-US')} origins, maxOrigins ${options.maxOrigins}, ${options.perSocket} per socket`,
    `  ${'requests'.padStart(10)} ${'heap (none)'.padStart(12)} ${'heap (poolscope)'.padStart(16)} ${'poolscope\'s'.padStart(12)} ${'RSS (poolscope)'.padStart(16)} ` +
    `${'old space'.padStart(10)} ${'young gen.'.padStart(10)}`,
  ];
  for (let i = 0; i <= last; i++) {
    const p = replay.poolscope.checkpoints[i];
    lines.push(`  ${p.requests.toLocaleString('en-US').padStart(10)} ${fmt.mib(replay.none.checkpoints[i].heapUsed).padStart(12)} ${fmt.mib(p.heapUsed).padStart(16)} ${fmt.mib(ours(replay, i)).padStart(12)} ${fmt.mib(p.rss).padStart(16)} ` +
      `${fmt.mib(p.oldSpace).padStart(10)} ${fmt.mib(p.newSpace).padStart(10)}`);
  }
  lines.push(`  heap census after the soak: ${Object.entries(replay.poolscope.census).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push(`real: ${real.poolscope.requests.toLocaleString('en-US')} requests to ${real.poolscope.origins.toLocaleString('en-US')} listening origins; ` +
    `poolscope counted ${real.poolscope.counted.requests} requests and ${real.poolscope.counted.opened} connections, the server ${real.poolscope.truth.requests} and ${real.poolscope.truth.connections}; ` +
    `poolscope's heap ${fmt.mib(result.realPoolscopeHeap)}`);
  emit(result, lines, options.json);
}
