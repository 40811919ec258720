/**
 * End-to-end instruction counts: the client of a keep-alive `undici.request()` on loopback, run
 * under `valgrind --tool=callgrind` in each mode, the server in another process. Like
 * bench/callgrind.mjs, each mode runs twice with two request counts after the same warm-up;
 * the difference over the difference in requests is one request's user-space instructions
 * (kernel time, a large part of a request's CPU, is not counted, so poolscope's share of the
 * real cost is smaller than shown). The same on a busy machine as on an idle one.
 *
 * The warm-up is long because V8 is still compiling after a thousand requests: counted after
 * 1,200 a request took ~270,000 instructions with nothing subscribed, after 5,000 ~164,000, and
 * the compilations that landed between two runs decided the figure more than the mode did.
 *
 *   node bench/e2e-callgrind.mjs [--modes=none,noop,poolscope,otel] [--requests=1500] [--warmup=5000] [--json]
 */
import { fileURLToPath } from 'node:url';
import { otelAvailable } from './lib/modes.mjs';
import { callgrindInstructions, startServerProcess, valgrindAvailable } from './lib/processes.mjs';
import { emit, parseArgs } from './lib/stats.mjs';

const options = parseArgs({ modes: 'none,noop,poolscope,otel', requests: 1500, warmup: 5000, base: 200, json: false });
const client = fileURLToPath(new URL('./lib/e2e-client.mjs', import.meta.url));

if (!valgrindAvailable()) {
  emit({ benchmark: 'e2e-callgrind', available: false }, ['e2e-callgrind: valgrind is not installed; skipped'], options.json);
} else {
  const server = await startServerProcess(1);
  const perRequest = {};
  try {
    const { h1 } = await server.request({ type: 'listen', h1: [{ host: '127.0.0.1', port: 0 }] });
    const url = `http://127.0.0.1:${h1[0].port}/items/1`;
    const instructions = (mode, count) =>
      callgrindInstructions([client, `--url=${url}`, `--mode=${mode}`, `--warmup=${options.warmup}`, `--count=${count}`]);
    const modes = options.modes.split(',').filter((mode) => mode !== 'otel' || otelAvailable());
    for (const mode of modes) {
      const [fewer, more] = await Promise.all([instructions(mode, options.base), instructions(mode, options.base + options.requests)]);
      perRequest[mode] = (more - fewer) / options.requests;
    }
  } finally {
    await server.close();
  }
  const overhead = Object.fromEntries(Object.entries(perRequest).filter(([mode]) => mode !== 'none').map(([mode, n]) => [mode, n / perRequest.none - 1]));
  const lines = [`e2e-callgrind: user-space instructions per keep-alive undici.request() (client; ${options.requests} requests after ${options.warmup + options.base})`];
  for (const [mode, n] of Object.entries(perRequest)) {
    lines.push(`  ${mode.padEnd(10)} ${Math.round(n).toLocaleString('en-US').padStart(9)}${mode === 'none' ? '' : `  ${overhead[mode] >= 0 ? '+' : ''}${(overhead[mode] * 100).toFixed(1)}%`}`);
  }
  emit({ benchmark: 'e2e-callgrind', available: true, requests: options.requests, warmup: options.warmup, perRequest, overhead }, lines, options.json);
}
