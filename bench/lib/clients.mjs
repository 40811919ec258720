import { Agent, fetch as undiciFetch, request } from 'undici8';

/**
 * The calls the end-to-end benchmarks time and count, by the name they print: one request to
 * `url` through `dispatcher`, its body read to the end.
 */
export const CLIENTS = {
  'undici.request()': async (url, dispatcher) => (await request(url, { dispatcher })).body.text(),
  'undici fetch()': async (url, dispatcher) => (await undiciFetch(url, { dispatcher })).text(),
  // Node's own fetch and its bundled undici, through the global dispatcher (which poolscope
  // instruments): the one the Anthropic and OpenAI SDKs use.
  'built-in fetch()': async (url) => (await fetch(url)).text(),
};

/**
 * One request to `url` with the client named `client`: over `keepAlive` when given, else over an
 * Agent of its own (`agentOptions`), closed after it: a new connection per request.
 */
export function requestsTo(client, url, keepAlive, agentOptions) {
  const call = CLIENTS[client];
  if (keepAlive !== undefined) return () => call(url, keepAlive);
  return async () => {
    const dispatcher = new Agent(agentOptions);
    await call(url, dispatcher);
    await dispatcher.close();
  };
}
