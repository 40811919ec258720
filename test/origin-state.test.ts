// The state module is plain TypeScript: these drive the compiled module directly, with no channel or exporter.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OriginRegistry, parseOrigin } from '../dist/state/origin-registry.js';
import { HISTOGRAM_LAYOUTS } from '../dist/metrics/catalog.js';
import { BucketHistogram } from '../dist/state/histogram.js';
import { ConsumerTable } from '../dist/state/peaks.js';

describe('origins', () => {
  it('keeps scheme, host and port only, with the default port filled in', () => {
    assert.deepEqual(parseOrigin('https://user:pw@API.Example.com/v1/messages?key=s3cret#x'),
      { key: 'https://api.example.com:443', scheme: 'https', host: 'api.example.com', port: 443 });
    assert.deepEqual(parseOrigin('http://[::1]:8080'), { key: 'http://[::1]:8080', scheme: 'http', host: '::1', port: 8080 });
    assert.equal(parseOrigin('ftp://files.example'), undefined);
    assert.equal(parseOrigin('not an origin'), undefined);
    assert.equal(parseOrigin(`http://${'a'.repeat(5000)}.example`), undefined);
    // Hosts URLs accept but no resolver answers never become a label.
    for (const host of ['a"b', 'a{b}', `${'a.'.repeat(130)}example`]) assert.equal(parseOrigin(`http://${host}/`), undefined, host);
    assert.equal(parseOrigin('http://bücher.example')?.host, 'xn--bcher-kva.example');
    assert.equal(parseOrigin('http://svc_a.internal:81')?.host, 'svc_a.internal');
  });

  it('finds every spelling of an origin in one record and folds origins past maxOrigins into _other', () => {
    const registry = new OriginRegistry(3, 60_000, 'undici', HISTOGRAM_LAYOUTS.default);
    const a = registry.lookup('http://a.example');
    assert.equal(registry.lookup('http://a.example:80/'), a);
    assert.equal(registry.lookup('http://user:pw@a.example/path'), a);
    registry.lookup('http://b.example');
    registry.lookup('http://c.example');
    const other = registry.lookup('http://d.example');
    assert.equal(registry.lookup('http://e.example'), other);
    assert.deepEqual([...registry.all()].map((o) => o.identity.key),
      ['http://a.example:80', 'http://b.example:80', 'http://c.example:80', '_other']);
    assert.deepEqual(other!.attributes, { 'server.address': '_other', 'poolscope.pool.type': 'undici' });
    assert.deepEqual(a!.attributes, { 'server.address': 'a.example', 'server.port': 80, 'url.scheme': 'http', 'poolscope.pool.type': 'undici' });
    for (let i = 0; i < 10_000; i++) registry.lookup(`http://host-${i}.example:${1000 + (i % 50000)}`);
    assert.equal([...registry.all()].length, 4, 'still three origins and _other');
  });
});

describe('per-origin state driven by synthetic events', () => {
  it('adds the typical setup time per reused request, and nothing before one was measured', () => {
    const origin = new OriginRegistry(10, 60_000, 'undici', HISTOGRAM_LAYOUTS.default).lookup('https://api.example')!;
    const connection = origin.openConnection('1.1', true, -1, 0);
    origin.requestSent(connection, true, 1, 0, 0);
    assert.equal(origin.savedSeconds, 0);
    for (const setup of [0.1, 0.3, 0.2]) origin.openConnection('1.1', false, setup, 0);
    assert.equal(origin.typicalSetupSeconds, 0.2);
    origin.requestSent(connection, false, -1, 0, 0);
    origin.requestSent(connection, true, 0.5, 0, 0);
    origin.requestSent(connection, true, 0.5, 0, 0);
    assert.equal(origin.savedSeconds, 0.4);
    assert.equal(origin.requestsNew, 1);
    assert.equal(origin.requestsReused, 3);
    assert.equal(origin.idleTime.count, 3);
  });

  it('reports the reuse ratio of the last 60 s only', () => {
    const origin = new OriginRegistry(10, 60_000, 'undici', HISTOGRAM_LAYOUTS.default).lookup('http://ratio.example')!;
    const connection = origin.openConnection('1.1', false, -1, 0);
    assert.ok(Number.isNaN(origin.reuseRatio(0)));
    origin.requestSent(connection, false, -1, 0, 1_000);
    origin.requestSent(connection, true, 0.1, 0, 2_000);
    origin.requestSent(connection, true, 0.1, 0, 55_000);
    assert.equal(origin.reuseRatio(56_000), 2 / 3);
    assert.equal(origin.reuseRatio(65_000), 1, 'the first ten seconds have left the window');
    assert.ok(Number.isNaN(origin.reuseRatio(200_000)));
  });

  it('keeps the peak of active requests until it is read', () => {
    const origin = new OriginRegistry(10, 60_000, 'undici', HISTOGRAM_LAYOUTS.default).lookup('http://peak.example')!;
    origin.requestStarted();
    origin.requestStarted();
    origin.requestStarted();
    origin.requestEnded(true, undefined, 0);
    origin.requestEnded(true, undefined, 0);
    const exporter = new ConsumerTable().fromStart('exporter');
    assert.equal(origin.takeActiveRequestsPeak(exporter()), 3);
    assert.equal(origin.takeActiveRequestsPeak(exporter()), 1);
  });

  it('bounds error types per origin', () => {
    const origin = new OriginRegistry(10, 60_000, 'undici', HISTOGRAM_LAYOUTS.default).lookup('http://errors.example')!;
    for (let i = 0; i < 50; i++) origin.connectionFailed(`E${i}`);
    assert.equal(origin.connectErrors.size, 21);
    assert.equal(origin.connectErrors.get('_other'), 30);
  });
});

describe('bucket histogram', () => {
  it('counts values into inclusive upper bounds and estimates quantiles within the samples', () => {
    const histogram = new BucketHistogram([1, 2, 5]);
    for (const value of [0.5, 1, 1.5, 2, 3, 10]) histogram.record(value);
    assert.deepEqual(Array.from(histogram.counts), [2, 2, 1, 1]);
    assert.equal(histogram.count, 6);
    assert.equal(histogram.sum, 18);
    assert.equal(histogram.min, 0.5);
    assert.equal(histogram.max, 10);
    const median = histogram.quantile(0.5);
    assert.ok(median >= 1 && median <= 2, String(median));
    assert.ok(Number.isNaN(new BucketHistogram([1]).quantile(0.5)));
  });
});
