// A mutation fuzzer: real payloads recorded from real traffic on every undici channel, mutated
// field by field (removed, wrong type, null, a getter that throws, a Proxy that throws on every
// trap, 100 kB strings, URLs with user name, password, path and token, hosts URLs accept but no
// resolver does) and published again. Nothing may escape as an exception, nothing malformed may
// become a label, and real traffic afterwards is still counted exactly.
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { after, it } from 'node:test';
import { start } from 'poolscope';
import { assertMatchesServer, scrape } from './helpers/agent.ts';
import { clients } from './helpers/clients.ts';
import { assertCleanExposition, escapes, random, recordPayloads, SECRET, throwing, throwingBare } from './helpers/hostile.ts';
import { eventually, sleep, startServer, testCertificate } from './helpers/servers.ts';

const CHANNELS = [
  'undici:request:create', 'undici:request:bodySent', 'undici:client:beforeConnect', 'undici:client:connected',
  'undici:client:connectError', 'undici:client:sendHeaders', 'undici:request:headers', 'undici:request:trailers',
  'undici:request:error', 'net.client.socket',
];
const MUTATIONS_PER_PAYLOAD = 200;
const SEED = 0x7a11;

const agent = await start({ exporters: ['prometheus'], host: '127.0.0.1', port: 0 });
after(() => agent.shutdown());

const { uncaught, warnings } = escapes();

/** Values a field can be given instead of what undici puts there. */
function hostileValues(): unknown[] {
  const big = 'x'.repeat(100_000);
  return [
    undefined, null, 0, -1, 1e308, NaN, true, '', big, Symbol('s'), 10n, [], [1, 2], {}, () => {}, new Date(0), new Map(),
    new Proxy({}, { get: throwing, has: throwing, ownKeys: throwing, getPrototypeOf: throwing, getOwnPropertyDescriptor: throwing }),
    new Proxy({}, { get: throwingBare, set: throwingBare, has: throwingBare, getPrototypeOf: throwingBare, defineProperty: throwingBare }),
    Object.defineProperty({}, 'origin', { get: throwing, enumerable: true }),
    { toString: throwing, valueOf: throwing, [Symbol.toPrimitive]: throwing },
    `http://admin:${SECRET}@secret-host.example:8080/private/path?token=${SECRET}#frag`,
    new URL(`https://user:${SECRET}@url-host.example/p?key=${SECRET}`),
    `http://${big}.example`, 'http://a"b{c}.example', 'http://tab\there.example', 'ftp://files.example', 'javascript:alert(1)',
    'http://[::1', 'http://256.256.256.256', 'http://example.com:99999', 'https://bücher.example', `https://${'a.'.repeat(200)}example`,
    'http:', 'h2', 'http/1.1', 'websocket', 'CONNECT', 'GET',
    { code: `E_${SECRET}` }, { code: 'ECONNRESET', name: big }, Object.assign(new Error('boom'), { code: 42 }),
    new EventEmitter(), { once: 'not a function' }, { once: throwing, prependOnceListener: throwing },
    { origin: 42 }, { origin: null }, { origin: 'not a url' }, { origin: 'ftp://files.example:21' },
    { origin: `http://user:${SECRET}@secret.example:8080/path?token=${SECRET}`, method: 'GET' },
    { origin: new URL(`https://user:${SECRET}@url.example/p?q=1`), upgrade: 'websocket' },
    { protocol: 'https:', host: 'params.example:8443', version: 'h2' }, { protocol: 'http:', host: 42 }, { protocol: 5, host: 'x' },
  ];
}

/** Every (object, key) below a payload, two levels deep: where a mutation can land. */
function fieldsOf(payload: object): Array<[holder: object, key: string]> {
  const fields: Array<[object, string]> = [];
  for (const key of Object.keys(payload)) {
    fields.push([payload, key]);
    const value = (payload as Record<string, unknown>)[key];
    if (typeof value === 'object' && value !== null && !(value instanceof EventEmitter) && !Buffer.isBuffer(value)) {
      for (const inner of Object.keys(value)) fields.push([value, inner]);
    }
  }
  return fields;
}

/** A copy of `payload` with one field (top level or one below) replaced, removed, or made a throwing getter. */
function mutate(payload: object, next: () => number, values: unknown[]): object {
  const copy: Record<string, unknown> = { ...payload };
  const fields = fieldsOf(copy);
  const [holder, key] = fields[Math.floor(next() * fields.length)] ?? [copy, 'request'];
  // A mutated copy of a nested object: the live undici object is never touched.
  let target: Record<string, unknown> = copy;
  if (holder !== copy) {
    const parentKey = Object.keys(copy).find((k) => copy[k] === holder)!;
    target = Object.create(Object.getPrototypeOf(holder) as object | null, Object.getOwnPropertyDescriptors(holder)) as Record<string, unknown>;
    copy[parentKey] = target;
  }
  const roll = next();
  if (roll < 0.15) delete target[key];
  else if (roll < 0.3) Object.defineProperty(target, key, { get: throwing, enumerable: true, configurable: true });
  else target[key] = values[Math.floor(next() * values.length)];
  // Sometimes a field that undici never sends, as a future version might.
  if (next() < 0.1) copy[`future${Math.floor(next() * 3)}`] = values[Math.floor(next() * values.length)];
  return copy;
}

/** Records real traffic's payloads: HTTP/1.1 and HTTPS through every client flavour. */
function recordRealPayloads(): Promise<Array<[channel: string, payload: object]>> {
  return recordPayloads<object>(CHANNELS, 2000, async () => {
    const plain = await startServer();
    const tls = await startServer({ tls: await testCertificate() });
    for (const client of clients()) {
      await client.request(`${plain.origin}/record?token=${SECRET}`, { headers: { authorization: `Bearer ${SECRET}` } });
      await client.request(`${tls.origin}/record`).catch(() => {});
      await client.close();
    }
  });
}



it('survives mutated real payloads on every channel, keeps labels clean, and counts real traffic after it exactly', async () => {
  const recorded = await recordRealPayloads();
  const channelsSeen = new Set(recorded.map(([name]) => name));
  for (const name of ['undici:request:create', 'undici:client:connected', 'undici:client:sendHeaders', 'undici:request:trailers', 'undici:client:connectError']) {
    assert.ok(channelsSeen.has(name), `real payloads recorded on ${name}`);
  }
  const next = random(SEED);
  const values = hostileValues();
  let published = 0;
  for (const [name, payload] of recorded) {
    for (let i = 0; i < MUTATIONS_PER_PAYLOAD; i++) {
      diagnosticsChannel.channel(name).publish(mutate(payload, next, values));
      published++;
    }
    // And the value alone, in place of the whole message.
    diagnosticsChannel.channel(name).publish(values[Math.floor(next() * values.length)]);
  }
  assert.ok(published > 10_000, `${published} mutated payloads published`);
  await sleep(20);
  assert.deepEqual(uncaught, [], `nothing escaped (seed ${SEED})`);
  assert.ok(warnings.length <= 1, 'at most one warning for all of it');

  const exposition = await scrape(agent.metricsUrl!);
  assertCleanExposition(exposition);

  await assertRealTrafficCountedExactly();
});

it('survives payloads made of nothing real: random fields, and whole made-up lifecycles', async () => {
  const values = hostileValues();
  const next = random(SEED + 1);
  const pick = () => values[Math.floor(next() * values.length)];
  const fields = ['request', 'socket', 'connectParams', 'connector', 'error', 'response', 'trailers', 'headers'];
  for (const name of CHANNELS) {
    for (let i = 0; i < 2000; i++) {
      const message: Record<string, unknown> = {};
      for (const field of fields) if (next() < 0.5) message[field] = pick();
      diagnosticsChannel.channel(name).publish(message);
    }
  }
  for (let i = 0; i < 500; i++) {
    const request = { origin: pick(), method: pick(), upgrade: pick() };
    const socket = next() < 0.5 ? new EventEmitter() : pick();
    for (const name of CHANNELS) {
      diagnosticsChannel.channel(name).publish({ request, socket, connectParams: pick(), connector: pick(), error: pick() });
    }
  }
  await sleep(10);
  assert.deepEqual(uncaught, [], `nothing escaped (seed ${SEED + 1})`);
  assert.ok(warnings.length <= 1, 'at most one warning for all of it');
  for (const entry of agent.snapshot()) {
    assert.match(entry.origin, /^(https?:\/\/([a-z0-9_.-]{1,253}|\[[0-9a-f:.]+\]):\d{1,5}|_other)$/, 'only scheme, host and port reach a label');
    assert.ok(entry.activeRequests >= 0);
  }
  await assertRealTrafficCountedExactly();
});

/** Five requests to a fresh server, counted exactly. */
async function assertRealTrafficCountedExactly(): Promise<void> {
  const client = clients().find((c) => c.name === 'undici 8 request()')!;
  const server = await startServer();
  for (let i = 0; i < 5; i++) {
    await client.request(`${server.origin}/after-fuzz/${i}`);
    await sleep(2);
  }
  await eventually(() => assertMatchesServer(agent, server));
  await client.close();
}
