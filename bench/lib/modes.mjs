import diagnosticsChannel from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { TAPPED_CHANNELS as NODE_HTTP_CHANNELS } from '../../dist/taps/node-http/tap.js';
import { TAPPED_CHANNELS as UNDICI_CHANNELS } from '../../dist/taps/undici/tap.js';

/**
 * Node 24 chooses its AsyncLocalStorage implementation lazily, and a process whose first
 * `nextTick` came before that choice may run undici's requests with 4-7% more instructions ever
 * after (src/async-context.ts). poolscope has Node choose as it loads; every benchmark process
 * does the same with poolscope's own function as it loads this module, before any mode runs, so
 * that each mode's figure is its own work and not which side of that cliff the process fell on.
 * `POOLSCOPE_BENCH_LATE_ASYNC_CONTEXT=1` leaves the choice to Node, to measure the cliff:
 * poolscope is then loaded only when a mode starts it.
 */
if (process.env.POOLSCOPE_BENCH_LATE_ASYNC_CONTEXT !== '1') (await import('../../dist/async-context.js')).settleAsyncContextChoice();
const start = async (options) => (await import('../../dist/index.js')).start(options);
const require = createRequire(import.meta.url);

/**
 * Every channel poolscope subscribes to, both taps' (`net.client.socket` is in both): the no-op
 * subscriber and the clock reader take them all, as poolscope does, whichever client a scenario
 * runs. A channel nobody publishes on costs nothing.
 */
const TAPPED_CHANNELS = [...new Set([...UNDICI_CHANNELS, ...NODE_HTTP_CHANNELS])];

/**
 * The ways a benchmark runs the same work: with nothing subscribed, with a subscriber that does
 * nothing (the floor diagnostics_channel itself sets), with one that only reads the clock at
 * each event (the least any subscriber that times the events costs), with poolscope, and with
 * OpenTelemetry's instrumentation of the client's stack recording its metrics (no tracer
 * provider: spans are non-recording): `@opentelemetry/instrumentation-undici` for undici and
 * `fetch()`, `@opentelemetry/instrumentation-http` for node:http. A mode with `instruments` runs
 * only with clients of that stack (runsOn()); one with `package` only where it is installed
 * (modeAvailable()). Each mode is entered and left in one process, so runs interleave.
 */
export const MODES = {
  none: { label: 'nothing subscribed', enter: async () => async () => {} },
  noop: {
    label: 'no-op subscriber',
    async enter() {
      const noop = () => {};
      // The taps' own lists, not found by starting an agent: after an agent had started and
      // stopped, undici's keep-alive request took 8% more instructions with these very
      // subscribers (e2e-callgrind), and the floor stands for a process that never ran one.
      for (const name of TAPPED_CHANNELS) diagnosticsChannel.subscribe(name, noop);
      return async () => {
        for (const name of TAPPED_CHANNELS) diagnosticsChannel.unsubscribe(name, noop);
      };
    },
  },
  clock: {
    label: 'clock reader',
    async enter() {
      // A subscriber that reads the clock at each event and keeps the reading, nothing else: what
      // timing the events costs at the least. A typed array, not a variable: a number stored in a
      // closure's variable is a heap object allocated at every store.
      const reading = new Float64Array(1);
      const read = () => { reading[0] = performance.now(); };
      for (const name of TAPPED_CHANNELS) diagnosticsChannel.subscribe(name, read);
      return async () => {
        for (const name of TAPPED_CHANNELS) diagnosticsChannel.unsubscribe(name, read);
      };
    },
  },
  poolscope: {
    label: 'poolscope',
    async enter() {
      // The agent as an app runs it, /metrics listening (on loopback, a free port).
      const agent = await start({ host: '127.0.0.1', port: 0 });
      return () => agent.shutdown();
    },
  },
  // What the interceptor on the global dispatcher costs: poolscope without it.
  'no-interceptor': {
    label: 'poolscope, global dispatcher left alone',
    async enter() {
      const agent = await start({ host: '127.0.0.1', port: 0, instrumentGlobalDispatcher: false });
      return () => agent.shutdown();
    },
  },
  otel: {
    label: 'instrumentation-undici',
    instruments: 'undici',
    package: '@opentelemetry/instrumentation-undici',
    async enter() {
      const instrumentation = await otelInstrumentation();
      instrumentation.enable();
      return async () => instrumentation.disable();
    },
  },
  'otel-http': {
    label: 'instrumentation-http',
    instruments: 'node:http',
    package: '@opentelemetry/instrumentation-http',
    async enter() {
      const instrumentation = await otelHttpInstrumentation();
      instrumentation.enable();
      return async () => instrumentation.disable();
    },
  },
};

/** The mode named `mode`; throws on a name not known. */
function known(mode) {
  const entry = MODES[mode];
  if (entry === undefined) throw new Error(`unknown mode ${mode}: one of ${Object.keys(MODES).join(', ')}`);
  return entry;
}

/** Whether `mode` runs with a client of `stack` (bench/lib/clients.mjs): every mode but another stack's instrumentation. */
export function runsOn(mode, stack) {
  const { instruments } = known(mode);
  return instruments === undefined || instruments === stack;
}

/** Whether `mode` can run here: its comparison library, if it has one, is installed (`npm ci --prefix bench`). */
export function modeAvailable(mode) {
  const { package: name } = known(mode);
  if (name === undefined) return true;
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * `POOLSCOPE_BASELINE_DIST=/path/to/other/dist`: adds a `baseline` mode running that build of
 * poolscope, to measure a change to the hot path against the code before it in one run.
 */
const baselineDist = process.env.POOLSCOPE_BASELINE_DIST;
if (baselineDist !== undefined && baselineDist !== '') {
  const path = isAbsolute(baselineDist) ? baselineDist : resolve(baselineDist);
  const baseline = await import(pathToFileURL(`${path}/index.js`).href);
  MODES.baseline = {
    label: 'poolscope (baseline build)',
    async enter() {
      const agent = await baseline.start({ host: '127.0.0.1', port: 0 });
      return () => agent.shutdown();
    },
  };
}

/**
 * `POOLSCOPE_BENCH_TAP_ONLY=1`: adds a `tap` mode, the channel subscriber and per-origin state
 * alone, without the agent around them (exporter, global dispatcher watch, peers): to tell the
 * hot path's cost from the rest's.
 */
if (process.env.POOLSCOPE_BENCH_TAP_ONLY) {
  const { UndiciTap } = await import('../../dist/taps/undici/tap.js');
  const { OriginRegistry } = await import('../../dist/state/origin-registry.js');
  const { HISTOGRAM_LAYOUTS } = await import('../../dist/metrics/catalog.js');
  MODES.tap = {
    label: 'tap only',
    async enter() {
      const tap = new UndiciTap(new OriginRegistry(100, 60_000, 'undici', HISTOGRAM_LAYOUTS.default));
      tap.enable();
      return async () => tap.disable();
    },
  };
}

/** A MeterProvider reading with a periodic reader, as an app's would. */
async function meterProvider() {
  const { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality } = await import('@opentelemetry/sdk-metrics');
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  });
  return new MeterProvider({ readers: [reader] });
}

let otel;
/** One instrumentation-undici for the process, with a MeterProvider of its own. */
async function otelInstrumentation() {
  if (otel !== undefined) return otel;
  const { UndiciInstrumentation } = await import('@opentelemetry/instrumentation-undici');
  // Built enabled (its handlers check the `enabled` setting) and switched off until a run enters.
  otel = new UndiciInstrumentation();
  otel.setMeterProvider(await meterProvider());
  otel.disable();
  return otel;
}

let otelHttp;
/**
 * One instrumentation-http for the process, with a MeterProvider of its own. Built enabled, it
 * hooks `require`: node:http and node:https, loaded already, are patched when next required, here,
 * on their module objects, which the clients' `http.request` reads (an app that loads its SDK
 * first gets the same patch at its own first `require`). `disable()` unpatches them, `enable()`
 * patches them again.
 */
async function otelHttpInstrumentation() {
  if (otelHttp !== undefined) return otelHttp;
  const { HttpInstrumentation } = await import('@opentelemetry/instrumentation-http');
  otelHttp = new HttpInstrumentation();
  otelHttp.setMeterProvider(await meterProvider());
  require('node:http');
  require('node:https');
  otelHttp.disable();
  return otelHttp;
}

/** Whether instrumentation-undici is installed (`npm ci --prefix bench`). */
export function otelAvailable() {
  return modeAvailable('otel');
}
