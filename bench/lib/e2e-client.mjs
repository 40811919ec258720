/**
 * One client run of the end-to-end benchmarks that give each run a process: a warm-up, then
 * `--count` sequential requests to `--url` in one mode, with one of bench/lib/clients.mjs
 * (`--client='undici fetch()'`), over one keep-alive pool of the client's stack (an undici Agent,
 * or node:http's keep-alive Agent for `http.request()`) or a new one per request, closed after it
 * (`--connection=new`). bench/e2e-callgrind.mjs counts its instructions;
 * bench/e2e-processes.mjs asks for `--timed`: the main thread's CPU time over the counted
 * requests, printed as one line of JSON after TIMED_MARKER. `--app-heap-mib`: the process first
 * holds that much in live objects, as a service's heap does; GC's marking work per request
 * grows with what is live, so a heap of a few MiB makes any fixed memory (poolscope's own,
 * ~3 MiB with the OpenTelemetry SDK) weigh far more than in an app.
 */
import { keepNodeGlobalDispatcher } from './node-global-dispatcher.mjs';
import { closePool, openPool, requestsTo } from './clients.mjs';
import { MODES } from './modes.mjs';
import { listenLikeAService } from './app-server.mjs';
import { mainThreadCpuUsage, parseArgs } from './stats.mjs';
import { countedWindow, TIMED_MARKER } from './warm-signal.mjs';

keepNodeGlobalDispatcher();

const options = parseArgs({
  url: '', mode: 'none', client: 'undici.request()', connection: 'keep-alive', warmup: 1000, count: 0, appListens: true, timed: false, appHeapMib: 0,
});
/** Small objects, live until the process ends, until the heap has grown by `--app-heap-mib`. */
const appHeap = [];
const heapAtStart = process.memoryUsage().heapUsed;
while (process.memoryUsage().heapUsed - heapAtStart < options.appHeapMib * 1024 * 1024) {
  for (let i = 0; i < 10_000; i++) appHeap.push({ id: appHeap.length, tags: [i], name: `item ${appHeap.length}` });
}
const appServer = options.appListens ? await listenLikeAService() : undefined;
const AGENT_OPTIONS = { keepAliveTimeout: 600_000, allowH2: true, connect: { rejectUnauthorized: false } };
const shared = openPool(options.client, AGENT_OPTIONS);
const call = requestsTo(options.client, options.url, options.connection === 'new' ? undefined : shared, AGENT_OPTIONS);
const leave = await MODES[options.mode].enter();
for (let i = 0; i < options.warmup; i++) await call();
const closeWindow = await countedWindow();
const cpuBefore = mainThreadCpuUsage();
for (let i = 0; i < options.count; i++) await call();
const cpu = mainThreadCpuUsage(cpuBefore);
closeWindow();
if (options.timed) process.stdout.write(`${TIMED_MARKER} ${JSON.stringify({ cpuPerRequest: ((cpu.user + cpu.system) * 1000) / options.count })}\n`);
await leave();
await closePool(options.client, shared);
appServer?.close();
