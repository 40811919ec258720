// Bad settings never stop the app: every variable with an invalid value gets one warning that
// names it and what it accepts, then its default; a port in use, a host that cannot be bound or
// an OTLP endpoint that is not a URL is a warning too; nothing is said again per request.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULTS, HISTOGRAM_AGGREGATION_VARIABLE, exponentialHistograms, resolveOptions } from '../dist/config.js';
import { fixture, runApp } from './helpers/processes.ts';
import { closedPort, startServer } from './helpers/servers.ts';

const app = fixture('lifecycle-app.mjs');

/** One invalid value per variable, what the warning must say it accepts, and the default used. */
const INVALID: ReadonlyArray<[variable: string, value: string, accepts: RegExp]> = [
  ['OTEL_METRICS_EXPORTER', 'carrier-pigeon', /a comma list of prometheus, otlp, console, none/],
  ['OTEL_EXPORTER_PROMETHEUS_HOST', 'not a host!', /an IP address or a host name/],
  ['OTEL_EXPORTER_PROMETHEUS_PORT', '70000', /a whole number from 0 to 65535/],
  ['POOLSCOPE_MAX_ORIGINS', 'lots', /a whole number from 1 to 100000/],
  ['OTEL_METRIC_EXPORT_INTERVAL', '-5', /a whole number from 100 to 86400000/],
  ['POOLSCOPE_CHURN_WINDOW_MILLIS', '1.5', /a whole number from 0 to 86400000/],
  ['POOLSCOPE_INSTRUMENT_GLOBAL_DISPATCHER', 'maybe', /true or false/],
  ['POOLSCOPE_PIPELINE', 'theirs', /auto, app, own/],
  ['POOLSCOPE_APP_SDK_WAIT_MILLIS', 'later', /a whole number from 0 to 600000/],
];

/** The same for the OTLP variables poolscope checks before the SDK reads them. */
const INVALID_OTLP: ReadonlyArray<[variable: string, value: string, accepts: RegExp]> = [
  ['OTEL_EXPORTER_OTLP_METRICS_PROTOCOL', 'grpc', /http\/protobuf or http\/json/],
  ['OTEL_EXPORTER_OTLP_TIMEOUT', 'soon', /a number of milliseconds above 0/],
  ['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', 'collector:4318', /an http:\/\/ or https:\/\/ URL/],
  [HISTOGRAM_AGGREGATION_VARIABLE, 'exponential', /explicit_bucket_histogram, base2_exponential_bucket_histogram\. Using explicit_bucket_histogram/],
];

describe('invalid settings', () => {
  it('each falls back to its default', () => {
    const resolved = resolveOptions({}, Object.fromEntries(INVALID.map(([variable, value]) => [variable, value])));
    assert.deepEqual(resolved.exporters, DEFAULTS.exporters);
    assert.equal(resolved.host, undefined);
    assert.equal(resolved.port, DEFAULTS.port);
    assert.equal(resolved.maxOrigins, DEFAULTS.maxOrigins);
    assert.equal(resolved.exportIntervalMillis, DEFAULTS.exportIntervalMillis);
    assert.equal(resolved.churnWindowMillis, DEFAULTS.churnWindowMillis);
    assert.equal(resolved.instrumentGlobalDispatcher, DEFAULTS.instrumentGlobalDispatcher);
    assert.equal(resolved.pipeline, DEFAULTS.pipeline);
    assert.equal(resolved.appSdkWaitMillis, DEFAULTS.appSdkWaitMillis);
    for (const [variable, value] of [['OTEL_EXPORTER_PROMETHEUS_PORT', '9464abc'], ['OTEL_EXPORTER_PROMETHEUS_PORT', '-1'],
      ['POOLSCOPE_MAX_ORIGINS', '0'], ['OTEL_METRICS_EXPORTER', 'prometheus,bogus'], ['OTEL_EXPORTER_PROMETHEUS_HOST', '[::1]']] as const) {
      const again = resolveOptions({}, { [variable]: value });
      assert.deepEqual(again, resolveOptions({}, {}), `${variable}=${value} gives the defaults`);
    }
  });

  it('the histogram aggregation is read only where poolscope may export OTLP itself', () => {
    const env = { [HISTOGRAM_AGGREGATION_VARIABLE]: ' BASE2_exponential_bucket_histogram' };
    assert.equal(exponentialHistograms(resolveOptions({ exporters: ['otlp', 'prometheus'] }, env), env), true);
    assert.equal(exponentialHistograms(resolveOptions({ exporters: ['prometheus'] }, env), env), false);
    assert.equal(exponentialHistograms(resolveOptions({ exporters: ['otlp'], pipeline: 'app' }, env), env), false);
    assert.equal(exponentialHistograms(resolveOptions({ exporters: ['otlp'] }, {}), {}), false);
  });

  it('through the preload: one warning per variable, naming it and what it accepts, and the app runs on', async () => {
    const server = await startServer();
    const run = runApp(app, { TARGET_URL: server.origin, REQUESTS: '30', ...Object.fromEntries(INVALID.map(([v, value]) => [v, value])) });
    const { code } = await run.exited;
    assert.equal(code, 3);
    assert.equal(server.truth.requests, 30);
    const warnings = run.warnings();
    // The defaults include port 9464: on a machine where it is taken, that is one more warning.
    const settingWarnings = warnings.filter((line) => line.includes('is not valid'));
    assert.equal(settingWarnings.length, INVALID.length, run.stderr());
    assert.ok(warnings.length - settingWarnings.length <= 1, run.stderr());
    for (const [variable, value, accepts] of INVALID) {
      const said = settingWarnings.filter((line) => line.includes(`${variable}=${JSON.stringify(value)}`));
      assert.equal(said.length, 1, `one warning names ${variable}`);
      assert.match(said[0]!, accepts);
    }
  });

  it('the OTLP variables: one warning each, and the app runs on', async () => {
    const server = await startServer();
    const run = runApp(app, {
      TARGET_URL: server.origin, REQUESTS: '10', OTEL_METRICS_EXPORTER: 'otlp',
      ...Object.fromEntries(INVALID_OTLP.map(([v, value]) => [v, value])),
      // The default endpoint (localhost:4318) may be taken on a developer's machine: a closed port instead.
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await closedPort()}`,
    });
    const { code } = await run.exited;
    assert.equal(code, 3);
    assert.equal(server.truth.requests, 10);
    const settingWarnings = run.warnings().filter((line) => line.includes('is not valid'));
    assert.equal(settingWarnings.length, INVALID_OTLP.length, run.stderr());
    for (const [variable, value, accepts] of INVALID_OTLP) {
      const said = settingWarnings.filter((line) => line.includes(`${variable}=${JSON.stringify(value)}`));
      assert.equal(said.length, 1, `one warning names ${variable}`);
      assert.match(said[0]!, accepts);
    }
    assert.equal(run.warnings().filter((line) => line.includes('OTLP export failed')).length, 1, 'the closed endpoint: one warning');
  });
});

describe('an endpoint that cannot be served', () => {
  it('a host that is not an address of this machine: one warning naming the variable, and the app runs on', async () => {
    const server = await startServer();
    // 192.0.2.1 (TEST-NET-1) is never assigned to a local interface: binding it fails at once, no traffic.
    const run = runApp(app, { TARGET_URL: server.origin, REQUESTS: '5', OTEL_EXPORTER_PROMETHEUS_HOST: '192.0.2.1' });
    const { code } = await run.exited;
    assert.equal(code, 3);
    assert.equal(server.truth.requests, 5);
    assert.equal(run.warnings().length, 1, run.stderr());
    assert.match(run.warnings()[0]!, /cannot serve \/metrics on 192\.0\.2\.1 port 9464 \(EADDRNOTAVAIL\).*OTEL_EXPORTER_PROMETHEUS_HOST/);
  });
});
