// One registry per pool type, read as one: every reader sees both, each keeps its own origins and
// its own `_other`, and threads' readings merge the same way. Plain data, no server needed.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { mergeReadings } from '../dist/peers/merge-readings.js';
import { readingsInTurns, readingsOf } from '../dist/peers/readings.js';
import { OriginRegistries } from '../dist/state/origin-registries.js';
import { OriginRegistry } from '../dist/state/origin-registry.js';
import { HISTOGRAM_LAYOUTS } from '../dist/metrics/catalog.js';
import type { OriginStats } from '../dist/state/origin-stats.js';
import { hostHeaderAuthority } from '../dist/taps/node-http/request-authority.js';

function sendOne(origin: OriginStats): void {
  const connection = origin.openConnection('1.1', false, 0.001, 0);
  origin.requestSent(connection, false, -1, 0.002, 1000);
}

const origins = (readings: ReturnType<typeof readingsOf>, poolType: string) => new Set(readings.values
  .filter((r) => r.metric === 'requests' && r.attributes['poolscope.pool.type'] === poolType)
  .map((r) => String(r.attributes['server.address'])));

it('reads every registry, each with its own maxOrigins and _other, and hands each new record to the hook', async () => {
  const undici = new OriginRegistry(2, 60_000, 'undici', HISTOGRAM_LAYOUTS.default);
  const nodeHttp = new OriginRegistry(2, 60_000, 'http.Agent', HISTOGRAM_LAYOUTS.default);
  const registries = new OriginRegistries([undici, nodeHttp]);
  const added: string[] = [];
  registries.onOriginAdded = (origin) => added.push(`${origin.poolType} ${origin.identity.key}`);
  for (const host of ['a', 'b', 'c']) sendOne(undici.lookup(`http://${host}.example`)!);
  for (const host of ['b', 'x', 'y']) sendOne(nodeHttp.lookupAuthority('http:', `${host}.example:8080`)!);
  assert.deepEqual(added, [
    'undici http://a.example:80', 'undici http://b.example:80', 'undici _other',
    'http.Agent http://b.example:8080', 'http.Agent http://x.example:8080', 'http.Agent _other',
  ]);
  assert.deepEqual([...registries.all()].map((origin) => origin.poolType), ['undici', 'undici', 'undici', 'http.Agent', 'http.Agent', 'http.Agent']);
  const readings = await readingsInTurns(registries, undefined);
  assert.deepEqual(origins(readings, 'undici'), new Set(['a.example', 'b.example', '_other']));
  assert.deepEqual(origins(readings, 'http.Agent'), new Set(['b.example', 'x.example', '_other']));
  assert.deepEqual(readingsOf(registries, 1000, undefined), readings);
});

it('merges threads\' readings with maxOrigins per pool type, as one thread keeps them', () => {
  const thread = (poolType: 'undici' | 'http.Agent', hosts: string[]) => {
    const registry = new OriginRegistry(10, 60_000, poolType, HISTOGRAM_LAYOUTS.default);
    for (const host of hosts) sendOne(registry.lookup(`http://${host}.example`)!);
    return readingsOf(registry, 1000, undefined);
  };
  const merged = mergeReadings([thread('undici', ['a', 'b']), thread('http.Agent', ['c', 'd']), thread('http.Agent', ['e'])], 2);
  assert.deepEqual(origins(merged, 'undici'), new Set(['a.example', 'b.example']));
  assert.deepEqual(origins(merged, 'http.Agent'), new Set(['c.example', 'd.example', '_other']));
});

it('finds an origin by scheme and authority once, and only for http(s) and a host a URL accepts', () => {
  const registry = new OriginRegistry(10, 60_000, 'http.Agent', HISTOGRAM_LAYOUTS.default);
  const plain = registry.lookupAuthority('http:', '127.0.0.1:8080');
  assert.equal(plain?.identity.key, 'http://127.0.0.1:8080');
  assert.equal(registry.lookupAuthority('http:', '127.0.0.1:8080'), plain, 'the same record, from the cache');
  assert.equal(registry.lookupAuthority('https:', 'api.example')?.identity.key, 'https://api.example:443');
  assert.equal(registry.lookupAuthority('https:', '[::1]:8443')?.identity.host, '::1');
  assert.equal(registry.lookupAuthority('http:', 'API.Example:80'), registry.lookupAuthority('http:', 'api.example'), 'one origin, however spelled');
  for (const [protocol, authority] of [['ftp:', 'files.example'], ['http:', 'a"b.example'], ['http:', ''], ['http:', '127.0.0.1:99999']]) {
    assert.equal(registry.lookupAuthority(protocol!, authority!), undefined, `${protocol}//${authority}`);
  }
});

it('takes a Host header as the authority only when it names the host the request connects to', () => {
  assert.equal(hostHeaderAuthority('api.example', 'api.example'), 'api.example');
  assert.equal(hostHeaderAuthority('api.example:8443', 'api.example'), 'api.example:8443');
  assert.equal(hostHeaderAuthority('[::1]:8080', '::1'), '[::1]:8080');
  assert.equal(hostHeaderAuthority('[::1]', '::1'), '[::1]');
  for (const header of ['other.example', 'api.example.evil', 'api.example:80@evil.example', 'api.example:8080/path', 'api.example:',
    'api.example:123456', 'api.example:80x', '[::1', '::1:8080', undefined, 42, ['api.example']]) {
    assert.equal(hostHeaderAuthority(header, header === '::1:8080' || header === '[::1' ? '::1' : 'api.example'), undefined, String(header));
  }
  assert.equal(hostHeaderAuthority('', ''), undefined);
});
