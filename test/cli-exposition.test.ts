import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExpositionError, parseExposition } from '../dist/cli/report/exposition.js';
import { collectFigures, quantile } from '../dist/cli/report/figures.js';

describe('the Prometheus text parser', () => {
  it('reads names, labels with escapes, special values and timestamps', () => {
    const samples = parseExposition([
      '# HELP poolscope_client_requests_total Requests whose headers were written.',
      '# TYPE poolscope_client_requests_total counter',
      'poolscope_client_requests_total{server_address="api.example.com",server_port="443",url_scheme="https",poolscope_connection_reused="true"} 41',
      'plain_metric 3.5e2 1700000000000',
      'with_escapes{path="a\\"b\\\\c\\nd",trailing="x",} -Inf',
      'spaced { a = "1" , b="2"}\t+Inf',
      'not_a_number NaN',
      '# a plain comment',
      '',
      'windows_line 7\r',
    ].join('\n'));
    assert.deepEqual(samples.map((s) => s.name), [
      'poolscope_client_requests_total', 'plain_metric', 'with_escapes', 'spaced', 'not_a_number', 'windows_line',
    ]);
    assert.deepEqual(samples[0]!.labels, {
      server_address: 'api.example.com', server_port: '443', url_scheme: 'https', poolscope_connection_reused: 'true',
    });
    assert.equal(samples[0]!.value, 41);
    assert.equal(samples[1]!.value, 350);
    assert.deepEqual(samples[2]!.labels, { path: 'a"b\\c\nd', trailing: 'x' });
    assert.equal(samples[2]!.value, -Infinity);
    assert.deepEqual(samples[3]!.labels, { a: '1', b: '2' });
    assert.equal(samples[3]!.value, Infinity);
    assert.ok(Number.isNaN(samples[4]!.value));
    assert.equal(samples[5]!.value, 7);
  });

  for (const [what, text, line] of [
    ['HTML', '<!doctype html>\n<html><body>Not found</body></html>', 1],
    ['JSON', '{"requests": 3}', 1],
    ['a value that is not a number', 'metric_total{a="1"} lots', 1],
    ['an unterminated label value', 'metric{a="1} 2', 1],
    ['a bad escape', 'metric{a="\\t"} 2', 1],
    ['a label given twice', 'metric{a="1",a="2"} 2', 1],
    ['no value', '# TYPE metric gauge\nmetric', 2],
    ['an unknown TYPE', '# TYPE metric speedometer\nmetric 1', 1],
    ['a fractional timestamp', 'metric 1 2.5', 1],
    ['a name run into its value', 'metric-1 2', 1],
  ] as const) {
    it(`refuses ${what}, naming the line`, () => {
      assert.throws(() => parseExposition(text), (error: unknown) => {
        assert.ok(error instanceof ExpositionError);
        assert.equal(error.line, line);
        assert.match(error.message, new RegExp(`^line ${line}: `));
        return true;
      });
    });
  }
});

describe('figures from expositions', () => {
  const instance = (reused: number, fresh: number, buckets: [string, number][]) => parseExposition([
    `poolscope_client_requests_total{server_address="10.0.0.1",server_port="8080",url_scheme="http",poolscope_connection_reused="true",otel_scope_name="poolscope"} ${reused}`,
    `poolscope_client_requests_total{server_address="10.0.0.1",server_port="8080",url_scheme="http",poolscope_connection_reused="false",otel_scope_name="poolscope"} ${fresh}`,
    ...buckets.map(([le, count]) =>
      `http_client_request_time_in_queue_bucket{server_address="10.0.0.1",server_port="8080",url_scheme="http",le="${le}"} ${count}`),
    `http_client_request_time_in_queue_count{server_address="10.0.0.1",server_port="8080",url_scheme="http"} ${reused + fresh}`,
    'poolscope_client_requests_total{server_address="::1",server_port="443",url_scheme="https",poolscope_connection_reused="true"} 1',
  ].join('\n'));

  it('adds up instances per origin and reads histograms as Prometheus does', () => {
    const figures = collectFigures([
      instance(90, 10, [['0.1', 50], ['0.2', 100], ['+Inf', 100]]),
      instance(9, 1, [['0.1', 10], ['0.2', 10], ['+Inf', 10]]),
    ]);
    const origin = figures.origins.get('http://10.0.0.1:8080');
    assert.ok(origin);
    assert.equal(origin.requestsReused, 99);
    assert.equal(origin.requestsNew, 11);
    assert.equal(origin.timeInQueue.count, 110);
    // 60 of 110 at most 0.1 s: the median, rank 55, lies in the first bucket, 55/60 of the way up.
    assert.ok(Math.abs(quantile(origin.timeInQueue, 0.5)! - 0.1 * 55 / 60) < 1e-12);
    assert.ok(figures.origins.has('https://[::1]:443'), 'IPv6 addresses get their brackets back');
    assert.ok(figures.present.has('requests') && figures.present.has('timeInQueue'));
    assert.ok(!figures.present.has('poolsCreated'));
  });

  it('interpolates within a bucket and stops at the highest finite bound', () => {
    const histogram = { buckets: new Map([[0.1, 10], [0.5, 30], [Infinity, 40]]), sum: 0, count: 40 };
    assert.equal(quantile(histogram, 0.25), 0.1);
    assert.ok(Math.abs(quantile(histogram, 0.5)! - 0.3) < 1e-12);
    assert.equal(quantile(histogram, 0.99), 0.5);
    assert.equal(quantile({ buckets: new Map(), sum: 0, count: 0 }, 0.5), null);
  });
});
