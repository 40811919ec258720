// A mutation fuzzer for the node:http tap: real payloads recorded from real node:http and
// node:https traffic on every channel it subscribes to, mutated field by field (the request's
// protocol, host, Agent, Host header, response, listeners; the socket; the error) and published
// again, then whole made-up lifecycles. Nothing may escape as an exception, nothing malformed may
// become a label, and real traffic afterwards is still counted exactly.
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import { after, it } from 'node:test';
import { start } from 'poolscope';
import { scrape } from './helpers/agent.ts';
import { assertAgentMatchesServer, nodeRequest } from './helpers/node-http.ts';
import { closedPort, eventually, sleep, startServer, testCertificate } from './helpers/servers.ts';
import { assertCleanExposition, escapes, random, recordPayloads, SECRET, throwing, throwingBare } from './helpers/hostile.ts';

const CHANNELS = ['net.client.socket', 'http.client.request.created', 'http.client.response.finish', 'http.client.request.error'];
const MUTATIONS_PER_PAYLOAD = 250;
const SEED = 0x4a9e;

const agent = await start({ exporters: ['prometheus'], host: '127.0.0.1', port: 0 });
after(() => agent.shutdown());

const { uncaught, warnings } = escapes();

/** Values a field can be given instead of what Node puts there. */
function hostileValues(): unknown[] {
  const big = 'x'.repeat(100_000);
  const fakeRequest = (host: unknown, header: unknown, protocol: unknown = 'http:') => Object.assign(new EventEmitter(), {
    protocol, host, getHeader: () => header, agent: http.globalAgent,
  });
  return [
    undefined, null, 0, -1, NaN, true, '', big, Symbol('s'), 10n, [], {}, () => {}, new Date(0), new Map(),
    new Proxy({}, { get: throwing, has: throwing, ownKeys: throwing, getPrototypeOf: throwing, getOwnPropertyDescriptor: throwing }),
    new Proxy({}, { get: throwingBare, set: throwingBare, has: throwingBare, getPrototypeOf: throwingBare, defineProperty: throwingBare }),
    Object.freeze(new EventEmitter()), Object.defineProperty({}, 'host', { get: throwing, enumerable: true }),
    { toString: throwing, valueOf: throwing, [Symbol.toPrimitive]: throwing },
    'http:', 'https:', 'ftp:', 'javascript:', `admin:${SECRET}@secret-host.example`, `secret-host.example/private?token=${SECRET}`,
    'a"b{c}.example', 'tab\there.example', '[::1', '256.256.256.256', `${'a.'.repeat(200)}example`, big,
    `127.0.0.1:80@evil.example`, '127.0.0.1:99999', '127.0.0.1:8080/path', '127.0.0.1:', '[::1]:8080', ':8080',
    { complete: true }, { complete: throwing }, Object.defineProperty({}, 'complete', { get: throwing }),
    { code: `E_${SECRET}` }, { code: 'ECONNRESET', name: big }, Object.assign(new Error('boom'), { code: 42 }),
    new EventEmitter(), { on: 'not a function' }, { on: throwing, prependListener: throwing, listenerCount: throwing },
    Object.assign(new EventEmitter(), { pending: true, _httpMessage: null, listenerCount: () => 1 }),
    Object.assign(new EventEmitter(), { encrypted: true, alpnProtocol: 'h2', remotePort: 'x' }),
    { [Symbol.for('poolscope.ownAgent')]: true }, http.globalAgent,
    fakeRequest('fake-host.example', 'fake-host.example:8080'), fakeRequest(`${SECRET}.example`, `other.example`),
    fakeRequest('fake-host.example', throwing), fakeRequest(big, big), fakeRequest('x', 'x:1', 'https:'),
    fakeRequest('::1', '[::1]:8443', 'https:'), fakeRequest('a@b.example', 'a@b.example'),
  ];
}

/** A copy of `payload` with one field (top level, or one of the request's or socket's) replaced, removed, or made a throwing getter. */
function mutate(payload: Record<string, unknown>, next: () => number, values: unknown[]): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...payload };
  const keys = Object.keys(copy);
  let target: Record<string, unknown> = copy;
  let key = keys[Math.floor(next() * keys.length)] ?? 'request';
  const inner = copy[key];
  if (typeof inner === 'object' && inner !== null && next() < 0.7) {
    // A copy of the request or socket with one of its own fields changed, and a listener table
    // of its own: Node's objects are never touched.
    const fields = ['protocol', 'host', 'agent', 'socketPath', 'res', 'upgradeOrConnect', 'on', 'getHeader', 'socket',
      '_httpMessage', 'encrypted', 'pending', 'connecting', 'alpnProtocol', 'remotePort', 'errored', 'listenerCount', 'prependListener'];
    target = Object.create(Object.getPrototypeOf(inner) as object | null, Object.getOwnPropertyDescriptors(inner)) as Record<string, unknown>;
    if (inner instanceof EventEmitter) Object.assign(target, { _events: Object.create(null) as object, _eventsCount: 0 });
    copy[key] = target;
    key = fields[Math.floor(next() * fields.length)]!;
  }
  const roll = next();
  if (roll < 0.15) delete target[key];
  else if (roll < 0.3) Object.defineProperty(target, key, { get: throwing, enumerable: true, configurable: true });
  else Object.defineProperty(target, key, { value: values[Math.floor(next() * values.length)], enumerable: true, configurable: true, writable: true });
  if (next() < 0.1) copy[`future${Math.floor(next() * 3)}`] = values[Math.floor(next() * values.length)];
  return copy;
}

/** Records real payloads: http and https, the global Agent and one of its own, a refused port, an untrusted certificate. */
function recordRealPayloads(): Promise<Array<[channel: string, payload: Record<string, unknown>]>> {
  return recordPayloads<Record<string, unknown>>(CHANNELS, 400, async () => {
    const tls = await testCertificate();
    const plain = await startServer();
    const secure = await startServer({ tls });
    const own = new http.Agent({ keepAlive: true });
    for (let i = 0; i < 2; i++) {
      await nodeRequest(`${plain.origin}/record?token=${SECRET}`, { headers: { authorization: `Bearer ${SECRET}` } });
      await nodeRequest(`${plain.origin}/record`, { agent: own, method: 'POST', body: SECRET });
      await nodeRequest(`${secure.origin}/record`, { ca: tls.cert });
    }
    await nodeRequest(`${secure.origin}/untrusted`, { agent: false }).catch(() => {});
    await nodeRequest(`http://127.0.0.1:${await closedPort()}/refused`).catch(() => {});
    own.destroy();
  });
}



it('survives mutated real payloads on every node:http channel, keeps labels clean, and counts real traffic after it exactly', async () => {
  const recorded = await recordRealPayloads();
  const channelsSeen = new Set(recorded.map(([name]) => name));
  for (const name of CHANNELS) assert.ok(channelsSeen.has(name), `real payloads recorded on ${name}`);
  const next = random(SEED);
  const values = hostileValues();
  let published = 0;
  for (const [name, payload] of recorded) {
    for (let i = 0; i < MUTATIONS_PER_PAYLOAD; i++) {
      diagnosticsChannel.channel(name).publish(mutate(payload, next, values));
      published++;
    }
    diagnosticsChannel.channel(name).publish(values[Math.floor(next() * values.length)]);
    // The real payload again, as a second publication of the same event.
    diagnosticsChannel.channel(name).publish(payload);
  }
  assert.ok(published > 5_000, `${published} mutated payloads published`);
  await sleep(20);
  assert.deepEqual(uncaught, [], `nothing escaped (seed ${SEED})`);
  assert.ok(warnings.length <= 1, 'at most one warning for all of it');

  const exposition = await scrape(agent.metricsUrl!);
  assertCleanExposition(exposition, ['evil']);
  await assertRealTrafficCountedExactly();
});

it('survives payloads made of nothing real: random fields, and whole made-up lifecycles', async () => {
  const values = hostileValues();
  const next = random(SEED + 1);
  const pick = () => values[Math.floor(next() * values.length)];
  for (const name of CHANNELS) {
    for (let i = 0; i < 2000; i++) {
      const message: Record<string, unknown> = {};
      for (const field of ['request', 'socket', 'error', 'response']) if (next() < 0.5) message[field] = pick();
      diagnosticsChannel.channel(name).publish(message);
    }
  }
  for (let i = 0; i < 300; i++) {
    const socket = Object.assign(new EventEmitter(), { pending: true, _httpMessage: undefined as unknown, encrypted: next() < 0.5, remotePort: 8080 });
    const request = Object.assign(new EventEmitter(), {
      protocol: next() < 0.5 ? 'http:' : 'https:', host: next() < 0.7 ? `made-up-${i % 7}.example` : pick(),
      getHeader: () => (next() < 0.5 ? `made-up-${i % 7}.example:8080` : pick()), agent: next() < 0.5 ? http.globalAgent : pick(),
      res: next() < 0.5 ? { complete: true } : pick(), socket,
    });
    socket._httpMessage = next() < 0.5 ? request : pick();
    diagnosticsChannel.channel('net.client.socket').publish({ socket });
    diagnosticsChannel.channel('http.client.request.created').publish({ request });
    diagnosticsChannel.channel('http.client.request.start').publish({ request });
    request.emit('socket', next() < 0.8 ? socket : pick());
    socket.emit('lookup');
    socket.emit('connect');
    socket.emit('secureConnect');
    diagnosticsChannel.channel('http.client.response.finish').publish({ request, response: pick() });
    if (next() < 0.3) diagnosticsChannel.channel('http.client.request.error').publish({ request, error: pick() });
    if (next() < 0.5) socket.emit('close', next() < 0.5);
    request.emit('close');
    socket.emit('close');
  }
  await sleep(10);
  assert.deepEqual(uncaught, [], `nothing escaped (seed ${SEED + 1})`);
  assert.ok(warnings.length <= 1, 'at most one warning for all of it');
  for (const entry of agent.snapshot()) {
    assert.match(entry.origin, /^(https?:\/\/([a-z0-9_.-]{1,253}|\[[0-9a-f:.]+\]):\d{1,5}|_other)$/, 'only scheme, host and port reach a label');
    assert.ok(entry.activeRequests >= 0);
    assert.ok(entry.openConnections.active >= 0 && entry.openConnections.idle >= 0);
  }
  await assertRealTrafficCountedExactly();
});

/** Requests to a fresh server on the global Agent and one of its own, counted exactly. */
async function assertRealTrafficCountedExactly(): Promise<void> {
  const server = await startServer();
  const own = new http.Agent({ keepAlive: true });
  for (let i = 0; i < 5; i++) {
    await nodeRequest(`${server.origin}/after-fuzz/${i}`);
    await nodeRequest(`${server.origin}/after-fuzz/own/${i}`, { agent: own });
    await sleep(2);
  }
  await Promise.all(Array.from({ length: 4 }, (_, i) => nodeRequest(`${server.origin}/after-fuzz/wave/${i}`)));
  await eventually(() => assertAgentMatchesServer(agent, server));
  own.destroy();
  await eventually(() => assertAgentMatchesServer(agent, server));
}
