import { CLIENTS } from './clients.mjs';

/**
 * The end-to-end scenarios run in a client process of their own (bench/lib/e2e-client.mjs), by
 * the key a script's `--scenarios` names. `share` scales a scenario's request counts: a new
 * connection per request costs several times a keep-alive one, and needs fewer requests for the
 * same precision. `warmupScale` lengthens the warm-up of bench/e2e-callgrind.mjs: `fetch()`'s path
 * (and node:http's, below) reaches V8's optimizing compiler later, and after the default 15,000 requests each mode's count
 * still held three or four compiles, poolscope's one fewer than nothing subscribed's, which read
 * as -2.6% (commit a482ed8); none after 30,000. A scenario's `stack` is its client's
 * (bench/lib/clients.mjs): which OpenTelemetry instrumentation runs with it (bench/lib/modes.mjs).
 */
export const SCENARIOS = {
  'request-h1': { name: 'undici.request(), HTTP/1.1, keep-alive', client: 'undici.request()', protocol: 'h1', connection: 'keep-alive', share: 1 },
  'fetch-h1': { name: 'undici fetch(), HTTP/1.1, keep-alive', client: 'undici fetch()', protocol: 'h1', connection: 'keep-alive', share: 1, warmupScale: 2 },
  'builtin-fetch-h1': { name: 'built-in fetch(), HTTP/1.1, keep-alive', client: 'built-in fetch()', protocol: 'h1', connection: 'keep-alive', share: 1, warmupScale: 2 },
  'request-h2': { name: 'undici.request(), HTTP/2, keep-alive', client: 'undici.request()', protocol: 'h2', connection: 'keep-alive', share: 1 },
  'request-h1-new': { name: 'undici.request(), HTTP/1.1, new connection', client: 'undici.request()', protocol: 'h1', connection: 'new', share: 0.2 },
  // node:http's keep-alive Agent (`new http.Agent({ keepAlive: true })`), poolscope's second tap.
  // After 15,000 requests every mode's count still held TurboFan compiling net's `onStreamRead`,
  // and poolscope's two of its own functions more (--trace-opt); none after 30,000.
  'http-request': { name: 'http.request(), HTTP/1.1, keep-alive', client: 'http.request()', protocol: 'h1', connection: 'keep-alive', share: 1, warmupScale: 2 },
  // An http.Agent per request, destroyed after it: a new socket, and a pool, per request.
  'http-request-new': { name: 'http.request(), HTTP/1.1, new connection', client: 'http.request()', protocol: 'h1', connection: 'new', share: 0.2 },
};

/** The scenarios named in a comma-separated list, in its order; throws on a name not known. */
export function scenariosNamed(list) {
  return list.split(',').map((key) => {
    const scenario = SCENARIOS[key];
    if (scenario === undefined) throw new Error(`unknown scenario ${key}: one of ${Object.keys(SCENARIOS).join(', ')}`);
    return { key, ...scenario, stack: CLIENTS[scenario.client].stack };
  });
}

/** The benchmark server's HTTP/1.1 and HTTP/2 listeners on loopback: the URL each scenario calls, by protocol. */
export async function listenForScenarios(server) {
  const { h1, h2 } = await server.request({ type: 'listen', h1: [{ host: '127.0.0.1', port: 0 }], h2: [{ host: '127.0.0.1', port: 0 }] });
  return { h1: `http://127.0.0.1:${h1[0].port}/items/1`, h2: `https://127.0.0.1:${h2[0].port}/items/1` };
}
