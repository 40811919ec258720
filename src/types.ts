import type { MeterProvider } from '@opentelemetry/api';
import type { HistogramDetail } from './metrics/catalog.js';

/** Where poolscope sends its metrics. */
export type ExporterName = 'prometheus' | 'otlp' | 'console';

/**
 * Where figures go: `auto` through the app's OpenTelemetry SDK when it registers a MeterProvider,
 * else poolscope's own exporters; `app` through the app's SDK only, waiting for it however long;
 * `own` through poolscope's own exporters only.
 */
export type PipelineChoice = 'auto' | 'app' | 'own';

/** Options of `start()`. An option left out is read from its environment variable, else defaults. */
export interface PoolscopeOptions {
  /** Where metrics go; `[]` sends them nowhere. Env `OTEL_METRICS_EXPORTER`; default `['prometheus']`. */
  exporters?: readonly ExporterName[];
  /** Interface `/metrics` listens on. Env `OTEL_EXPORTER_PROMETHEUS_HOST`; default all interfaces. */
  host?: string;
  /** Port of `/metrics`; 0 picks a free one. Env `OTEL_EXPORTER_PROMETHEUS_PORT`; default 9464. */
  port?: number;
  /** Origins tracked one by one, per pool type; the rest fold into `server.address="_other"`. Env `POOLSCOPE_MAX_ORIGINS`; default 100. */
  maxOrigins?: number;
  /** Milliseconds between OTLP and console exports. Env `OTEL_METRIC_EXPORT_INTERVAL`; default 60000. */
  exportIntervalMillis?: number;
  /** The app's MeterProvider to record into instead of poolscope's own (`exporters` are then not started). */
  meterProvider?: MeterProvider;
  /** `service.name` of poolscope's own provider. Env `OTEL_SERVICE_NAME`; default the app's package name. */
  serviceName?: string;
  /** A new socket opened this soon after an idle one to its origin closed counts as reopened. Env `POOLSCOPE_CHURN_WINDOW_MILLIS`; default 60000. */
  churnWindowMillis?: number;
  /** Compose the time-in-queue interceptor onto the global dispatcher `fetch` uses. Env `POOLSCOPE_INSTRUMENT_GLOBAL_DISPATCHER`; default true. */
  instrumentGlobalDispatcher?: boolean;
  /** Through the app's OpenTelemetry SDK, poolscope's own exporters, or whichever the app has (see PipelineChoice). Env `POOLSCOPE_PIPELINE`; default `auto`. */
  pipeline?: PipelineChoice;
  /** With `poolscope/register`, how long `auto` waits for the app to register a MeterProvider before opening poolscope's own exporters. Env `POOLSCOPE_APP_SDK_WAIT_MILLIS`; default 10000. */
  appSdkWaitMillis?: number;
  /** Histogram buckets: `default` (what the dashboards, alerts and report need), `detailed` (every bucket), `minimal` (sum and count). Env `POOLSCOPE_HISTOGRAMS`; default `default`. */
  histograms?: HistogramDetail;
}

/** Count and total of one duration histogram. */
export interface DurationSummary {
  readonly count: number;
  readonly sumSeconds: number;
}

/** One origin's figures, as `agent.snapshot()` returns them. */
export interface OriginSnapshot {
  /** `scheme://host:port`, or `_other` for the origins past `maxOrigins` (of its pool type). */
  readonly origin: string;
  /** `poolscope.pool.type`: `undici` (fetch, the undici package) or `http.Agent` (node:http and node:https clients). */
  readonly poolType: 'undici' | 'http.Agent';
  /** Requests whose headers were written to a socket. */
  readonly requests: number;
  /** Of those, the ones that were a socket's first request. */
  readonly requestsOnNewConnections: number;
  /** Of those, the ones sent on a socket that had already carried one. */
  readonly requestsOnReusedConnections: number;
  /** requestsOnReusedConnections / requests since start; null before the first request. */
  readonly reuseRatio: number | null;
  /** Requests created and not yet finished. */
  readonly activeRequests: number;
  readonly openConnections: { readonly active: number; readonly idle: number };
  readonly connectionsOpened: number;
  readonly connectionsClosed: { readonly active: number; readonly idle: number };
  /** Failed connection attempts, per error type. */
  readonly connectionErrors: Readonly<Record<string, number>>;
  /** Median of the latest connection setup durations; null until one was measured. */
  readonly typicalSetupSeconds: number | null;
  /** Estimated setup time reuse saved. */
  readonly savedSeconds: number;
  /** Median time to first byte on a new and on a reused connection; null without samples. */
  readonly timeToFirstByteP50Seconds: { readonly newConnection: number | null; readonly reused: number | null };
  /** Time in queue of every request sent, from its dispatch (or creation) to its headers written. */
  readonly timeInQueue: DurationSummary & { readonly p95Seconds: number | null };
  /** Connection setup durations and, where the runtime shows them, their phases. */
  readonly connectionSetup: DurationSummary & { readonly phases: Readonly<Record<'dns' | 'tcp' | 'tls', DurationSummary>> };
  /** Sockets opened, per `network.protocol.version`. */
  readonly connectionsOpenedByProtocol: Readonly<Record<string, number>>;
  /** New sockets opened within the churn window after an idle socket to the origin closed. */
  readonly connectionsReopened: number;
  /** For each reopened socket, how long the closed one had been idle when a socket was needed again. */
  readonly reopenedAfter: DurationSummary;
  /** Most requests seen in flight at once on one socket. */
  readonly maxStreamsPerConnection: number;
  /** Dispatchers with an open socket to the origin now. */
  readonly pools: number;
  /** Dispatchers that opened their first socket to the origin. */
  readonly poolsCreated: number;
}

/** A running poolscope agent. */
export interface PoolscopeAgent {
  /** Where `/metrics` is served, while poolscope's own Prometheus exporter listens. */
  readonly metricsUrl: string | undefined;
  /** Every tracked origin's figures, as plain objects. */
  snapshot(): OriginSnapshot[];
  /** Unsubscribes from every channel, exports a last time, and closes `/metrics`. */
  shutdown(): Promise<void>;
}
