// node:http and node:https clients as apps use them, for the http.Agent tap's tests.
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import tls from 'node:tls';
import type { OriginSnapshot, PoolscopeAgent } from 'poolscope';
import axios from 'axios';
import got from 'got';
import { assertMatchesServer, figuresFor } from './agent.ts';
import type { TestServer } from './servers.ts';

type NodeFetch = (url: string, init?: { method?: string; body?: string; headers?: Record<string, string>; agent?: http.Agent; signal?: AbortSignal }) =>
  Promise<{ status: number; text(): Promise<string> }>;
/** node-fetch 2 ships no types; it is CommonJS. */
const nodeFetch = createRequire(import.meta.url)('node-fetch') as NodeFetch;

/**
 * Whether this Node publishes `net.client.socket` for `tls.connect()` sockets (22.17 and later,
 * 24.2 and later): where it does not, an https socket's setup, DNS and TCP phases are not timed.
 */
export const announcesTlsSockets: boolean = (() => {
  let seen = false;
  const listener = (): void => { seen = true; };
  diagnosticsChannel.subscribe('net.client.socket', listener);
  const socket = tls.connect({ host: '127.0.0.1', port: 9, lookup: () => {} });
  socket.on('error', () => {});
  socket.destroy();
  diagnosticsChannel.unsubscribe('net.client.socket', listener);
  return seen;
})();

/** How long a node-fetch 2 request may take in these tests, unless a test says (see its client). */
const NODE_FETCH_DEADLINE_MS = 1000;

export interface RequestInit {
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** One way an app sends HTTP through node:http; `close()` destroys the Agents it owns. */
export interface HttpClient {
  readonly name: string;
  request(url: string, init?: RequestInit): Promise<{ status: number; body: string }>;
  close(): void;
}

/**
 * Makes the global https Agent trust the test certificate, as axios, got and node-fetch use it
 * with no option of their own: the Agent adds its options to every connection it makes.
 */
export function trustInGlobalAgent(cert: string): void {
  https.globalAgent.options.ca = cert;
}

/** `http.request` or `https.request`, with `agent` (undefined: the global one); the body read whole. */
export function nodeRequest(url: string, init: RequestInit & { agent?: http.Agent | false; ca?: string } = {}): Promise<{ status: number; body: string }> {
  const secure = url.startsWith('https:');
  const { body, agent, ca, ...options } = init;
  return new Promise((resolve, reject) => {
    const callback = (response: http.IncomingMessage): void => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { text += chunk; });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
      response.on('error', reject);
    };
    const requestOptions = { ...options, ...(agent === undefined ? {} : { agent }), ...(ca === undefined ? {} : { ca }) };
    const request = secure ? https.request(url, requestOptions, callback) : http.request(url, requestOptions, callback);
    request.on('error', reject);
    request.end(body);
  });
}

/**
 * The clients every behaviour runs through: `http.request` with the global Agents and with an
 * Agent of its own, axios, got and node-fetch 2 (the last three on the global Agents, as apps
 * use them). HTTPS needs `trustInGlobalAgent()` first.
 */
export function nodeHttpClients(ca?: string, nodeFetchDeadlineMs = NODE_FETCH_DEADLINE_MS): HttpClient[] {
  const own = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true, ...(ca === undefined ? {} : { ca }) }) };
  return [
    {
      name: 'http.request, global Agent',
      request: (url, init) => nodeRequest(url, init),
      close: () => {},
    },
    {
      name: 'http.request, own keep-alive Agent',
      request: (url, init) => nodeRequest(url, { ...init, agent: url.startsWith('https:') ? own.https : own.http }),
      close: () => {
        own.http.destroy();
        own.https.destroy();
      },
    },
    {
      name: 'axios',
      async request(url, init = {}) {
        const response = await axios.request({
          url, method: init.method ?? 'GET', ...(init.body === undefined ? {} : { data: init.body }), headers: init.headers ?? {}, responseType: 'text',
          validateStatus: () => true, ...(init.signal === undefined ? {} : { signal: init.signal }),
        });
        return { status: response.status, body: String(response.data) };
      },
      close: () => {},
    },
    {
      name: 'got',
      async request(url, init = {}) {
        const response = await got(url, {
          method: (init.method ?? 'GET') as 'GET', headers: init.headers ?? {}, throwHttpErrors: false, retry: { limit: 0 },
          ...(init.body === undefined ? {} : { body: init.body }), ...(init.signal === undefined ? {} : { signal: init.signal }),
        });
        return { status: response.statusCode, body: response.body };
      },
      close: () => {},
    },
    {
      name: 'node-fetch 2',
      async request(url, init = {}) {
        // On Node 22 node-fetch 2 never settles a body the server resets midway: a deadline of its own.
        const deadline = AbortSignal.timeout(nodeFetchDeadlineMs);
        const response = await nodeFetch(url, { ...init, signal: init.signal === undefined ? deadline : AbortSignal.any([init.signal, deadline]) });
        return { status: response.status, body: await response.text() };
      },
      close: () => {},
    },
  ];
}

/** The http.Agent figures for one server's origin. */
export function agentFiguresFor(agent: PoolscopeAgent, server: TestServer): OriginSnapshot {
  return figuresFor(agent, server, 'http.Agent');
}

/** `assertMatchesServer()` for the http.Agent figures; and nothing of the origin counted as undici traffic. */
export function assertAgentMatchesServer(agent: PoolscopeAgent, server: TestServer, tls = false): void {
  assertMatchesServer(agent, server, tls, 'http.Agent');
  const undici = agent.snapshot().find((entry) => entry.origin === server.origin && entry.poolType === 'undici');
  assert.equal(undici, undefined, 'no undici record for node:http traffic');
}
