/**
 * The traffic that fills every series of an origin, for bench/scrape.mjs: run by its main
 * thread, and by each worker thread it starts with `--threads`, where poolscope reports to the
 * main thread as the preload makes it do.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Agent, request } from 'undici8';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A keep-alive Agent that speaks HTTP/2 where offered, and its GET that reads the whole body. */
export function newClient() {
  const dispatcher = new Agent({ keepAliveTimeout: 60_000, allowH2: true, connect: { rejectUnauthorized: false } });
  const get = async (url) => (await request(url, { dispatcher })).body.text();
  return { dispatcher, get };
}

/** Every series an origin can have from traffic: new and reused requests, a closed socket, a reopen. */
async function populate(get, origin) {
  await get(`${origin}/a`);
  await sleep(2);
  await get(`${origin}/b`);
  await Promise.all([get(`${origin}/c`), get(`${origin}/d`)]);
  if (origin.startsWith('http:')) {
    await get(`${origin}/close?close`);
    await sleep(2);
    await get(`${origin}/again`);
  }
}

/** Populates every origin, 16 at a time. */
export async function populateAll(get, origins) {
  for (let i = 0; i < origins.length; i += 16) await Promise.all(origins.slice(i, i + 16).map((origin) => populate(get, origin)));
}

if (!isMainThread && workerData?.scrapeTraffic === true) {
  // A worker thread of the app: poolscope as the preload starts it, reporting to the main thread.
  await import('../../dist/register.js');
  const { dispatcher, get } = newClient();
  await populateAll(get, workerData.origins);
  parentPort.postMessage('populated');
  // Its sockets stay open, as an app's would, until the benchmark ends.
  parentPort.once('message', () => {
    void dispatcher.close().then(() => parentPort.close());
  });
}
