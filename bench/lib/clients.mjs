import http from 'node:http';
import { Agent, fetch as undiciFetch, request } from 'undici8';

/**
 * One `http.request()` to `url` through `agent`, its body read to the end. `http.request` is read
 * from the module object at each call, as an app's `http.request(...)` is: that object is what
 * instrumentation-http patches.
 */
function httpRequest(url, agent) {
  return new Promise((resolve, reject) => {
    const outgoing = http.request(url, { agent }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { body += chunk; });
      response.on('end', () => resolve(body));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/**
 * The pools of each stack: undici's Agent with the caller's options, or node:http's keep-alive
 * Agent as apps make it (`new http.Agent({ keepAlive: true })`, Node's other defaults).
 */
const POOLS = {
  undici: { open: (options) => new Agent(options), close: (agent) => agent.close() },
  'node:http': { open: () => new http.Agent({ keepAlive: true }), close: async (agent) => agent.destroy() },
};

/**
 * The calls the end-to-end benchmarks time and count, by the name they print: one request to
 * `url` through `pool`, its body read to the end. `stack` says whose pool and channels it goes
 * through, and so which OpenTelemetry instrumentation sees it (bench/lib/modes.mjs).
 */
export const CLIENTS = {
  'undici.request()': { stack: 'undici', call: async (url, dispatcher) => (await request(url, { dispatcher })).body.text() },
  'undici fetch()': { stack: 'undici', call: async (url, dispatcher) => (await undiciFetch(url, { dispatcher })).text() },
  // Node's own fetch and its bundled undici, through the global dispatcher (which poolscope
  // instruments): the one the Anthropic and OpenAI SDKs use.
  'built-in fetch()': { stack: 'undici', call: async (url) => (await fetch(url)).text() },
  // node:http through an http.Agent: axios, got, node-fetch, the AWS SDK and Stripe's client.
  'http.request()': { stack: 'node:http', call: httpRequest },
};

/** A keep-alive pool for the client named `client`; `options` are an undici Agent's. */
export function openPool(client, options) {
  return POOLS[CLIENTS[client].stack].open(options);
}

/** Closes a pool openPool() made for `client`, and its sockets. */
export function closePool(client, pool) {
  return POOLS[CLIENTS[client].stack].close(pool);
}

/**
 * One request to `url` with the client named `client`: over `keepAlive` when given, else over a
 * pool of its own (`agentOptions`), closed after it: a new connection per request.
 */
export function requestsTo(client, url, keepAlive, agentOptions) {
  const { call } = CLIENTS[client];
  if (keepAlive !== undefined) return () => call(url, keepAlive);
  return async () => {
    const pool = openPool(client, agentOptions);
    await call(url, pool);
    await closePool(client, pool);
  };
}
