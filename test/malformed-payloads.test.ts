import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { after, it } from 'node:test';
import { assertMatchesServer, testAgent } from './helpers/agent.ts';
import { clients } from './helpers/clients.ts';
import { eventually, sleep, startServer } from './helpers/servers.ts';

const CHANNELS = [
  'undici:request:create', 'undici:client:beforeConnect', 'undici:client:connected', 'undici:client:connectError',
  'undici:client:sendHeaders', 'undici:request:headers', 'undici:request:trailers', 'undici:request:error',
];

const agent = await testAgent();
after(() => agent.shutdown());

const uncaught: unknown[] = [];
process.on('uncaughtException', (error) => uncaught.push(error));
const warnings: Error[] = [];
process.on('warning', (warning) => warnings.push(warning));

const throwing = (): never => {
  throw new Error('getter that throws');
};

/** Values undici never sends, and some it might send one day. */
function atoms(): unknown[] {
  const hostileSocket = new EventEmitter();
  return [
    undefined, null, 0, -1, NaN, '', 'x'.repeat(100_000), true, Symbol('s'), [], {}, () => {},
    new Proxy({}, { get: throwing }),
    Object.defineProperty({}, 'origin', { get: throwing }),
    { origin: 42 }, { origin: null }, { origin: 'not a url' }, { origin: 'ftp://files.example:21' },
    { origin: 'http://user:password@secret.example:8080/path?token=abc', method: 'GET' },
    { origin: `http://${'a'.repeat(100_000)}.example` },
    { origin: new URL('https://user:pw@url.example/p?q=1'), upgrade: 'websocket' },
    { protocol: 'https:', host: 'params.example:8443', version: 'h2' },
    { protocol: 'http:', host: 42 }, { protocol: 5, host: 'x' },
    { code: 'ECONNREFUSED' }, { code: { toString: throwing } }, { code: 'bad code with spaces', name: 'Nope!' },
    hostileSocket, { once: 'not a function' }, { once: throwing },
  ];
}

/** A deterministic generator, so a failure names a seed that reproduces it. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const FIELDS = ['request', 'socket', 'connectParams', 'connector', 'error', 'response', 'trailers', 'headers'];

it('survives malformed payloads on every channel and still counts real traffic exactly', async () => {
  const pool = atoms();
  const next = random(0x5eed);
  const pick = () => pool[Math.floor(next() * pool.length)];
  for (const name of CHANNELS) {
    for (const atom of pool) diagnosticsChannel.channel(name).publish(atom);
    for (let i = 0; i < 2000; i++) {
      const message: Record<string, unknown> = {};
      for (const field of FIELDS) if (next() < 0.5) message[field] = pick();
      diagnosticsChannel.channel(name).publish(message);
    }
  }
  // Whole lifecycles with made-up objects: the state they leave must stay within bounds.
  for (let i = 0; i < 500; i++) {
    const request = { origin: pick(), method: pick(), upgrade: pick() };
    const socket = next() < 0.5 ? new EventEmitter() : pick();
    for (const name of CHANNELS) {
      diagnosticsChannel.channel(name).publish({ request, socket, connectParams: pick(), connector: pick(), error: pick() });
    }
  }
  await sleep(10);
  assert.deepEqual(uncaught, [], 'nothing escaped as an uncaught exception');
  assert.ok(warnings.filter((w) => w.name === 'PoolscopeWarning').length <= 1, 'at most one warning');

  for (const entry of agent.snapshot()) {
    assert.match(entry.origin, /^(https?:\/\/[a-z0-9.-]{1,253}:\d{1,5}|_other)$/, 'only scheme, host and port reach a label');
    assert.ok(entry.activeRequests >= 0);
  }

  const client = clients().find((c) => c.name === 'undici 8 request()')!;
  const server = await startServer();
  for (let i = 0; i < 5; i++) {
    await client.request(`${server.origin}/after-fuzz/${i}`);
    await sleep(2);
  }
  await eventually(() => assertMatchesServer(agent, server));
  await client.close();
});
