import { fetch as undiciFetch, request } from 'undici8';

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
