/**
 * Scrape benchmark: poolscope with `maxOrigins` origins fully populated by real traffic
 * (HTTP/1.1 and HTTP/2 origins on loopback, reused and closed sockets, one origin past the cap
 * for `_other`), then `/metrics` scraped from another process. Reports the time and size of
 * a scrape and how long poolscope's process had its event loop blocked meanwhile.
 *
 * `--threads=N` adds N worker threads that send the same traffic, each with poolscope reporting
 * to the main thread: a scrape then also adds up their readings.
 *
 *   node bench/scrape.mjs [--origins=100] [--scrapes=20] [--threads=0] [--json]
 */
import { execFile, execFileSync } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import { promisify } from 'node:util';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { start } from '../dist/index.js';
import { watchBlocking } from './lib/loop-blocking.mjs';
import { canPin, nodeOnCore, startServerProcess } from './lib/processes.mjs';
import { newClient, populateAll } from './lib/scrape-traffic.mjs';
import { emit, fmt, parseArgs, summary } from './lib/stats.mjs';

const options = parseArgs({ origins: 100, scrapes: 20, threads: 0, json: false });

// The main thread on a core of its own; V8's GC helpers run where they can, as on a machine with
// more than one core. Pinned with the main thread, the helpers queued behind it: a parallel
// scavenge took several times its work, and the thread's waits for a CPU were its own GC's.
if (canPin) execFileSync('taskset', ['-c', '-p', '0', String(process.pid)], { stdio: 'ignore' });
const server = await startServerProcess(1);
// Half the origins speak HTTP/1.1, half HTTP/2 over TLS; one more is past the cap.
const h1Count = Math.ceil((options.origins + 1) / 2);
const h2Count = options.origins + 1 - h1Count;
const listening = await server.request({
  type: 'listen',
  h1: Array.from({ length: h1Count }, () => ({ host: '127.0.0.1', port: 0 })),
  h2: Array.from({ length: h2Count }, () => ({ host: '127.0.0.1', port: 0 })),
});
const origins = [
  ...listening.h1.map(({ port }) => `http://127.0.0.1:${port}`),
  ...listening.h2.map(({ port }) => `https://127.0.0.1:${port}`),
];

const agent = await start({ host: '127.0.0.1', port: 0, maxOrigins: options.origins });
const { dispatcher, get } = newClient();
await populateAll(get, origins);
const workers = [];
for (let i = 0; i < options.threads; i++) {
  const worker = new Worker(new URL('./lib/scrape-traffic.mjs', import.meta.url), {
    workerData: { scrapeTraffic: true, origins }, env: { ...process.env, POOLSCOPE_MAX_ORIGINS: String(options.origins) },
  });
  workers.push(worker);
  await once(worker, 'message');
}
const tracked = agent.snapshot().length;

/**
 * Scrapes from a child process on the server's core (idle meanwhile), so the client's work is
 * not counted as poolscope's blocking: on poolscope's core, its time slices were.
 */
const scrapeScript = `
  const url = process.argv[1]; const times = []; let bytes = 0; let body = '';
  for (let i = 0; i < Number(process.argv[2]); i++) {
    const started = performance.now();
    const response = await fetch(url); body = await response.text();
    times.push(performance.now() - started); bytes = Buffer.byteLength(body);
  }
  const series = body.split('\\n').filter((line) => line !== '' && !line.startsWith('#')).length;
  process.stdout.write(JSON.stringify({ times, bytes, series }));
`;
const scrapeFrom = (count) => watchBlocking(async (scrapeStarts) => {
  // Each request to poolscope's endpoint starts a scrape; this process serves nothing else.
  diagnosticsChannel.subscribe('http.server.request.start', scrapeStarts);
  try {
    const { stdout } = await promisify(execFile)(...nodeOnCore(1, ['--input-type=module', '-e', scrapeScript, agent.metricsUrl, String(count)]));
    return JSON.parse(stdout);
  } finally {
    diagnosticsChannel.unsubscribe('http.server.request.start', scrapeStarts);
  }
});
// The first scrape runs cold code; the others are what a running app sees every scrape interval.
const first = await scrapeFrom(1);
const { value: scraped, periods, longestGcMs, delayMaxMs, delayP99Ms } = await scrapeFrom(options.scrapes);

for (const worker of workers) worker.postMessage('end');
await Promise.all(workers.map((worker) => once(worker, 'exit')));
await dispatcher.close();
await agent.shutdown();
await server.close();

const time = summary(scraped.times);
// Each scrape from its request on: the scraper's process start is not poolscope's. Without the
// time the thread waited for a CPU too, where the system says.
const longestTaskMs = Math.max(...periods.map((period) => period.longestMs));
const perScrape = periods[0].onCpuMs === undefined ? undefined : summary(periods.map((period) => period.onCpuMs));
const firstTaskMs = first.periods[0].longestMs;
const firstOnCpuMs = first.periods[0].onCpuMs;
const result = {
  benchmark: 'scrape', origins: options.origins, threads: options.threads, tracked, scrapes: options.scrapes,
  bytes: scraped.bytes, series: scraped.series, timeMs: time, longestTaskMs, perScrapeOnCpuMs: perScrape,
  longestGcMs, delayMaxMs, delayP99Ms,
  first: { timeMs: first.value.times[0], longestTaskMs: firstTaskMs, longestOnCpuMs: firstOnCpuMs },
};
emit(result, [
  `scrape: ${options.origins} origins (maxOrigins) + _other, ${tracked} records` +
    (options.threads > 0 ? `, the same in each of ${options.threads} worker threads` : '') +
    `, ${options.scrapes} scrapes from another process after a first one`,
  `  ${fmt.kib(scraped.bytes)}, ${scraped.series} series; scrape time median ${fmt.ms(time.median)} [${fmt.ms(time.min)}-${fmt.ms(time.max)}]`,
  `  poolscope's event loop: longest task ${fmt.ms(longestTaskMs)} (longest GC pause ${fmt.ms(longestGcMs)}), delay max ${fmt.ms(delayMaxMs)}, p99 ${fmt.ms(delayP99Ms)}`,
  ...(perScrape === undefined ? [] : [
    `  longest task of each scrape, not counting waits for a CPU: median ${fmt.ms(perScrape.median)} [${fmt.ms(perScrape.p25)}-${fmt.ms(perScrape.p75)}], max ${fmt.ms(perScrape.max)}`,
  ]),
  `  first scrape: ${fmt.ms(first.value.times[0])}, longest task ${fmt.ms(firstTaskMs)}` +
    (firstOnCpuMs === undefined ? '' : `, ${fmt.ms(firstOnCpuMs)} not counting waits for a CPU`),
], options.json);
