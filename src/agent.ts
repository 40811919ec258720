import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { resolveOptions } from './config.js';
import { MeterBridge } from './export/meter-bridge.js';
import { PoolscopeMetricProducer } from './export/metric-producer.js';
import { createReaders } from './export/readers.js';
import { buildResource } from './export/resource.js';
import { OriginRegistry } from './state/origin-registry.js';
import type { OriginStats } from './state/origin-stats.js';
import { UndiciTap } from './tap/undici-tap.js';
import type { OriginSnapshot, PoolscopeAgent, PoolscopeOptions } from './types.js';

/**
 * The running agent lives on the global object, so a second `start()`, a second preload or a
 * second copy of poolscope in the process gets the same agent and counts nothing twice.
 */
const RUNNING = Symbol.for('poolscope.agent');
type WithAgent = typeof globalThis & { [RUNNING]?: Promise<PoolscopeAgent> };

/** Subscribes to undici's channels and starts exporting; a second call returns the running agent. */
export function start(options?: PoolscopeOptions): Promise<PoolscopeAgent> {
  const global = globalThis as WithAgent;
  const running = global[RUNNING];
  if (running !== undefined) return running;
  const starting = launch(options, () => {
    if (global[RUNNING] === starting) delete global[RUNNING];
  });
  global[RUNNING] = starting;
  starting.catch(() => {
    if (global[RUNNING] === starting) delete global[RUNNING];
  });
  return starting;
}

async function launch(options: PoolscopeOptions | undefined, forget: () => void): Promise<PoolscopeAgent> {
  const resolved = resolveOptions(options);
  const registry = new OriginRegistry(resolved.maxOrigins);
  const tap = new UndiciTap(registry);
  tap.enable();

  let closeExport: () => Promise<void>;
  let metricsUrl: string | undefined;
  if (resolved.meterProvider !== undefined) {
    const bridge = new MeterBridge(resolved.meterProvider, registry);
    closeExport = async () => bridge.shutdown();
  } else {
    const readers = await createReaders(resolved, new PoolscopeMetricProducer(registry));
    const provider = new MeterProvider({ resource: buildResource(resolved.serviceName), readers: readers.readers });
    metricsUrl = readers.metricsUrl;
    closeExport = async () => {
      await Promise.allSettled([provider.shutdown(), readers.close()]);
    };
  }

  let stopping: Promise<void> | undefined;
  return {
    metricsUrl,
    snapshot: () => Array.from(registry.all(), snapshotOf),
    shutdown() {
      stopping ??= (async () => {
        tap.disable();
        forget();
        await closeExport();
      })();
      return stopping;
    },
  };
}

function orNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

function snapshotOf(origin: OriginStats): OriginSnapshot {
  const requests = origin.requestsNew + origin.requestsReused;
  let connectionsOpened = 0;
  for (const count of origin.opened.values()) connectionsOpened += count;
  return {
    origin: origin.identity.key,
    requests,
    requestsOnNewConnections: origin.requestsNew,
    requestsOnReusedConnections: origin.requestsReused,
    reuseRatio: requests === 0 ? null : origin.requestsReused / requests,
    activeRequests: origin.activeRequests,
    openConnections: { active: origin.openActive, idle: origin.openIdle },
    connectionsOpened,
    connectionsClosed: { active: origin.closedActive, idle: origin.closedIdle },
    connectionErrors: Object.fromEntries(origin.connectErrors),
    typicalSetupSeconds: orNull(origin.typicalSetupSeconds),
    savedSeconds: origin.savedSeconds,
    timeToFirstByteP50Seconds: {
      newConnection: orNull(origin.timeToFirstByte[0].quantile(0.5)),
      reused: orNull(origin.timeToFirstByte[1].quantile(0.5)),
    },
  };
}
