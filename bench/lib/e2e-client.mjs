/**
 * One client run for the instruction counts of bench/e2e-callgrind.mjs: a warm-up, then
 * `--count` sequential requests to `--url` in one mode, with `undici.request()`, undici's
 * `fetch()` or Node's built-in `fetch()` (`--client=request|fetch|builtin-fetch`), over one
 * keep-alive Agent or a new Agent per request, closed after it (`--connection=new`).
 */
import { Agent, fetch as undiciFetch, request } from 'undici8';
import { MODES } from './modes.mjs';
import { listenLikeAService } from './app-server.mjs';
import { parseArgs } from './stats.mjs';
import { warmedUp } from './warm-signal.mjs';

const options = parseArgs({ url: '', mode: 'none', client: 'request', connection: 'keep-alive', warmup: 1000, count: 0, appListens: true });
const appServer = options.appListens ? await listenLikeAService() : undefined;
const AGENT_OPTIONS = { keepAliveTimeout: 600_000, allowH2: true, connect: { rejectUnauthorized: false } };
const shared = new Agent(AGENT_OPTIONS);
const CLIENTS = {
  request: async (dispatcher) => (await request(options.url, { dispatcher })).body.text(),
  fetch: async (dispatcher) => (await undiciFetch(options.url, { dispatcher })).text(),
  // Node's own fetch through its global dispatcher (which poolscope instruments): the one SDKs use.
  'builtin-fetch': async () => (await fetch(options.url)).text(),
};
const send = CLIENTS[options.client];
const call = options.connection === 'new'
  ? async () => {
      const dispatcher = new Agent(AGENT_OPTIONS);
      await send(dispatcher);
      await dispatcher.close();
    }
  : () => send(shared);
const leave = await MODES[options.mode].enter();
for (let i = 0; i < options.warmup; i++) await call();
// Full collections before and after the counted requests, so that where V8 happens to start a
// major GC does not decide which run pays for it.
globalThis.gc?.();
await warmedUp();
for (let i = 0; i < options.count; i++) await call();
globalThis.gc?.();
await leave();
await shared.close();
appServer?.close();
