import cluster from 'node:cluster';
import { performance } from 'node:perf_hooks';
import { isMainThread, threadId } from 'node:worker_threads';
import { settleAsyncContextChoice } from './async-context.js';
import { exponentialHistograms, resolveOptions } from './config.js';
import { HISTOGRAM_LAYOUTS } from './metrics/catalog.js';
import { ClusterReporter, PeerAggregator, ThreadReporter } from './peers/peers.js';
import { readingsInTurns, readingsOf } from './peers/readings.js';
import { OriginRegistries } from './state/origin-registries.js';
import { OriginRegistry } from './state/origin-registry.js';
import type { OriginStats } from './state/origin-stats.js';
import type { Consumer } from './state/peaks.js';
import { GlobalDispatcherWatch } from './taps/undici/global-dispatcher.js';
import { NodeHttpTap } from './taps/node-http/tap.js';
import { UndiciTap } from './taps/undici/tap.js';
import { silence } from './warn.js';
import type { BucketHistogram } from './state/histogram.js';
import { PHASES } from './state/origin-stats.js';
import type { DurationSummary, OriginSnapshot, PoolscopeAgent, PoolscopeOptions } from './types.js';
import type { Pipeline } from './export/pipeline.js';

/**
 * The running agent lives on the global object, so a second `start()`, a second preload or a
 * second copy of poolscope in the process gets the same agent and counts nothing twice.
 */
const RUNNING = Symbol.for('poolscope.agent');
type WithAgent = typeof globalThis & { [RUNNING]?: Promise<PoolscopeAgent> };

/**
 * What this thread does with its figures: export them (adding up those of the threads and
 * processes that report to it), or report them to the thread that exports.
 */
export type Role = 'export' | 'report-to-main-thread' | 'report-to-cluster-primary';

/** Subscribes to undici's channels and starts exporting; a second call returns the running agent. */
export function start(options?: PoolscopeOptions): Promise<PoolscopeAgent> {
  return startAs('export', false, options);
}

/**
 * The preload's start: in a worker thread or a `node:cluster` worker the agent reports to the
 * main thread or the primary, which export every thread's and process's figures on one endpoint.
 */
export function startFromPreload(): Promise<PoolscopeAgent> {
  return startAs(!isMainThread ? 'report-to-main-thread' : cluster.isWorker ? 'report-to-cluster-primary' : 'export', true);
}

/**
 * `fromPreload`: started before the app's code ran, so an SDK the app starts is still to come
 * (see `appSdkWaitMillis`); an app that calls `start()` has started its SDK, if it has one.
 */
function startAs(role: Role, fromPreload: boolean, options?: PoolscopeOptions): Promise<PoolscopeAgent> {
  const global = globalThis as WithAgent;
  const running = global[RUNNING];
  if (running !== undefined) return running;
  const starting = launch(role, fromPreload, options, () => {
    if (global[RUNNING] === starting) delete global[RUNNING];
  });
  global[RUNNING] = starting;
  starting.catch(() => {
    if (global[RUNNING] === starting) delete global[RUNNING];
  });
  return starting;
}

async function launch(role: Role, fromPreload: boolean, options: PoolscopeOptions | undefined, forget: () => void): Promise<PoolscopeAgent> {
  settleAsyncContextChoice();
  // The thread that exports reads the same environment and says what is wrong with it, once.
  if (role !== 'export') silence('POOLSCOPE_INVALID_SETTING');
  const resolved = resolveOptions(options);
  // One registry per kind of pool, read as one.
  const layout = HISTOGRAM_LAYOUTS[resolved.histograms];
  const exponential = exponentialHistograms(resolved);
  const undiciRegistry = new OriginRegistry(resolved.maxOrigins, resolved.churnWindowMillis, 'undici', layout, exponential);
  const nodeHttpRegistry = new OriginRegistry(resolved.maxOrigins, resolved.churnWindowMillis, 'http.Agent', layout, exponential);
  const registry = new OriginRegistries([undiciRegistry, nodeHttpRegistry]);
  const globalDispatcher = resolved.instrumentGlobalDispatcher ? new GlobalDispatcherWatch() : undefined;
  globalDispatcher?.enable();
  const tap = new UndiciTap(undiciRegistry, globalDispatcher);
  tap.enable();
  const nodeHttpTap = new NodeHttpTap(nodeHttpRegistry);
  nodeHttpTap.enable();

  const local = (consumer: Consumer | undefined) => readingsInTurns(registry, consumer);
  // Threads and processes that report here: the main thread of every process adds up its
  // worker threads, and a cluster primary its workers.
  // (With the app's MeterProvider, only this thread's registry is read.)
  const peers = isMainThread && (role !== 'export' || resolved.meterProvider === undefined)
    ? new PeerAggregator(resolved.maxOrigins) : undefined;
  const gather = (consumer: Consumer | undefined) => peers?.gather(local(consumer), consumer) ?? local(consumer);

  let exported: Pipeline | undefined;
  let closeExport: () => Promise<void>;
  try {
    if (role === 'report-to-main-thread') {
      // A worker answers in one task: an answer that misses the main thread's window loses the
      // peaks it took, and a thread holds at most `maxOrigins` origins.
      const read = (consumer: Consumer | undefined) => readingsOf(registry, performance.now(), consumer);
      const reporter = new ThreadReporter(threadId, read);
      closeExport = async () => reporter.close();
    } else if (role === 'report-to-cluster-primary') {
      const reporter = new ClusterReporter(gather);
      closeExport = () => reporter.close();
    } else {
      // The exporters load only in the thread that exports, not in those that report.
      const { startPipeline } = await import('./export/pipeline.js');
      const pipeline = await startPipeline(resolved, { registry, gather }, fromPreload ? resolved.appSdkWaitMillis : 0);
      exported = pipeline;
      closeExport = () => pipeline.close();
    }
  } catch (error) {
    // A start that fails leaves nothing behind: no subscriber, no server, no patched dispatcher.
    tap.disable();
    nodeHttpTap.disable();
    globalDispatcher?.disable();
    peers?.close();
    throw error;
  }

  let stopping: Promise<void> | undefined;
  return {
    get metricsUrl() {
      return exported?.metricsUrl;
    },
    snapshot: () => Array.from(registry.all(), snapshotOf),
    shutdown() {
      stopping ??= (async () => {
        tap.disable();
        nodeHttpTap.disable();
        globalDispatcher?.disable();
        forget();
        try {
          await closeExport();
        } finally {
          peers?.close();
        }
      })();
      return stopping;
    },
  };
}

function orNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

function summaryOf(histogram: BucketHistogram): DurationSummary {
  return { count: histogram.count, sumSeconds: histogram.sum };
}

function snapshotOf(origin: OriginStats): OriginSnapshot {
  const requests = origin.requestsNew + origin.requestsReused;
  const totals = { opened: 0, openActive: 0, openIdle: 0, closedActive: 0, closedIdle: 0, streamsMax: 0 };
  const openedByProtocol: Record<string, number> = {};
  for (const [version, protocol] of origin.protocols) {
    openedByProtocol[version] = protocol.opened;
    totals.opened += protocol.opened;
    totals.openActive += protocol.openActive;
    totals.openIdle += protocol.openIdle;
    totals.closedActive += protocol.closedActive;
    totals.closedIdle += protocol.closedIdle;
    totals.streamsMax = Math.max(totals.streamsMax, protocol.streamsMax);
  }
  return {
    origin: origin.identity.key,
    poolType: origin.poolType,
    requests,
    requestsOnNewConnections: origin.requestsNew,
    requestsOnReusedConnections: origin.requestsReused,
    reuseRatio: requests === 0 ? null : origin.requestsReused / requests,
    activeRequests: origin.activeRequests,
    openConnections: { active: totals.openActive, idle: totals.openIdle },
    connectionsOpened: totals.opened,
    connectionsClosed: { active: totals.closedActive, idle: totals.closedIdle },
    connectionErrors: Object.fromEntries(origin.connectErrors),
    typicalSetupSeconds: orNull(origin.typicalSetupSeconds),
    savedSeconds: origin.savedSeconds,
    timeToFirstByteP50Seconds: {
      newConnection: orNull(origin.timeToFirstByte[0].quantile(0.5)),
      reused: orNull(origin.timeToFirstByte[1].quantile(0.5)),
    },
    timeInQueue: { ...summaryOf(origin.timeInQueue), p95Seconds: orNull(origin.timeInQueue.quantile(0.95)) },
    connectionSetup: {
      ...summaryOf(origin.setupDuration),
      phases: Object.fromEntries(PHASES.map((phase, i) => [phase, summaryOf(origin.phaseDuration[i]!)])) as
        OriginSnapshot['connectionSetup']['phases'],
    },
    connectionsOpenedByProtocol: openedByProtocol,
    connectionsReopened: origin.reopened,
    reopenedAfter: summaryOf(origin.reopenedAfter),
    maxStreamsPerConnection: totals.streamsMax,
    pools: origin.openPools,
    poolsCreated: origin.poolsCreated,
  };
}
