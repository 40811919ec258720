/**
 * The panels both dashboards show. Each takes a view: the overview splits series by origin,
 * the origin detail by instance. Every query reads only the series the `job`, `instance`,
 * `origin` and `pool_type` variables select, over Grafana's `$__rate_interval`.
 */
import { KEEP_ALIVE_HEADROOM } from './alerts.ts';
import { metric, mean, ORIGIN, ORIGIN_LEGEND, quantile, ratio, reuseRatio, series, sumRate } from './promql.ts';
import type { Query, StatPanel, TablePanel, Thresholds, TimeSeriesPanel } from './panels.ts';

export interface View {
  /** Labels every series is split by. */
  readonly by: string;
  /** Legend of one series. */
  readonly legend: string;
  /** What one series is, in descriptions ("origin", "instance"). */
  readonly noun: string;
}

export const BY_ORIGIN: View = { by: ORIGIN, legend: ORIGIN_LEGEND, noun: 'origin' };
/** An instance may call the origin through both kinds of pool: each is its own series, as in the overview. */
export const BY_INSTANCE: View = { by: 'instance, poolscope_pool_type', legend: '{{instance}} ({{poolscope_pool_type}})', noun: 'instance' };

/** The series the dashboard's variables select. */
export const SELECTED = ['job=~"$job"', 'instance=~"$instance"', 'server_address=~"$origin"', 'poolscope_pool_type=~"$pool_type"'] as const;
export const RATE = '$__rate_interval';
/** Tables summarise the whole time range the dashboard shows. */
export const RANGE = '$__range';

/** The reuse target the alert rules use too. */
export const REUSE_TARGET = 0.85;
export const REUSE_THRESHOLDS: Thresholds = { base: 'red', steps: [{ value: REUSE_TARGET, color: 'green' }] };
/** Red from one event per 10,000 s: any at all. */
const ANY_IS_BAD: Thresholds = { base: 'green', steps: [{ value: 0.0001, color: 'red' }] };

const selected = (name: string, ...more: string[]) => series(name, ...SELECTED, ...more);

function timeSeries(
  title: string, unit: string, description: string, queries: Query[],
  extra: Partial<Omit<TimeSeriesPanel, 'kind' | 'title' | 'unit' | 'description' | 'queries'>> = {},
): TimeSeriesPanel {
  return { kind: 'timeseries', title, unit, description, queries, width: 8, min: 0, ...extra };
}

function stat(title: string, unit: string, description: string, expr: string, extra: Partial<StatPanel> = {}): StatPanel {
  return { kind: 'stat', title, unit, description, queries: [{ expr }], width: 4, min: 0, ...extra };
}

function quantiles(view: View, histogram: string, qs: readonly number[], more: string[] = []): Query[] {
  return qs.map((q) => ({
    expr: quantile(q, view.by, histogram, [...SELECTED, ...more], RATE),
    legend: `p${Math.round(q * 100)} ${view.legend}`,
  }));
}

// Headline figures over everything selected.

export const statReuse = (): StatPanel => stat('Reuse rate', 'percentunit',
  `Share of the selected requests sent on a connection that had already carried one, now. Good: at or above ${REUSE_TARGET * 100}% (green). ` +
  'Bad: red, below the target while traffic is steady; the panels below say why.',
  reuseRatio('', [...SELECTED], RATE),
  { max: 1, thresholds: REUSE_THRESHOLDS });

export const statRequests = (): StatPanel => stat('Requests', 'reqps',
  'Requests per second whose headers were written to a connection, new or reused: the traffic every other figure is measured against. ' +
  'Good: steady, following the service\'s own load. Bad: a sudden drop with connect errors rising (requests fail before being sent).',
  sumRate('', selected(metric.requests), RATE));

export const statNewConnections = (): StatPanel => stat('New connections', 'suffix: conn/s',
  'Connections opened per second. Good: near 0 in steady state. Bad: close to the request rate, every request paying for a handshake.',
  sumRate('', selected(metric.connectionsOpened), RATE));

export const statSaved = (): StatPanel => stat('Time saved by reuse', 's',
  'Connection setup time reuse saved per second of wall time (for each reused request, the origin\'s typical measured setup): latency your requests did not pay. ' +
  'Good: high, following the request rate. Bad: falling while traffic holds: reuse is dropping.',
  sumRate('', selected(metric.savedTime), RATE));

export const statConnectErrors = (): StatPanel => stat('Connect errors', 'suffix: errors/s',
  'Failed connection attempts per second. Good: 0 (green). Bad: anything above, red: requests to some origin are failing before they are sent.',
  `${sumRate('', selected(metric.connectionErrors), RATE)} or vector(0)`,
  { thresholds: ANY_IS_BAD });

export const statQueue = (): StatPanel => stat('Time in queue p95', 's',
  'How long the slowest 5% of requests waited from dispatch until their headers were written (pool queue plus, for a new connection, its setup). ' +
  'Good: close to 0. Bad: above the connection setup time: requests wait for a free connection.',
  quantile(0.95, '', metric.timeInQueue, SELECTED, RATE));

export const statSetup = (): StatPanel => stat('Connection setup p95', 's',
  'DNS + TCP + TLS of the slowest 5% of new connections: what each request on a new connection pays before it is sent, and what reuse saves. ' +
  'Good: under a millisecond on a LAN, one to three round trips across the internet. Bad: far above that (slow DNS, packet loss, slow TLS). Empty while no connection is opened.',
  quantile(0.95, '', metric.setupDuration, SELECTED, RATE));

// Reuse.

export const reuseRate = (view: View): TimeSeriesPanel => timeSeries(`Reuse rate per ${view.noun}`, 'percentunit',
  `Share of requests sent on a connection that had already carried one, per ${view.noun}. ` +
  `Good: at or above the dashed ${REUSE_TARGET * 100}% line: most requests skip DNS, TCP and TLS. ` +
  'Bad: below it with steady traffic. Near 0% means a client is built per request, or connections close between requests ' +
  '(see Pools created and Keep-alive churn). A gap means no traffic, not 0%.',
  [{ expr: reuseRatio(view.by, [...SELECTED], RATE), legend: view.legend }],
  { width: 12, max: 1, thresholds: REUSE_THRESHOLDS, thresholdLines: true });

export const requestsNewVsReused = (): TimeSeriesPanel => timeSeries('Requests: new vs reused connection', 'reqps',
  'Requests per second, stacked: sent on a reused connection, or as the first request of a new one. ' +
  'Good: the new band is a thin sliver under the reused one. Bad: the new band grows with traffic; each of its requests paid for a connection setup.',
  [
    { expr: sumRate('', selected(metric.requests, 'poolscope_connection_reused="true"'), RATE), legend: 'reused' },
    { expr: sumRate('', selected(metric.requests, 'poolscope_connection_reused="false"'), RATE), legend: 'new connection' },
  ],
  { width: 12, stack: true });

export const timeSaved = (view: View): TimeSeriesPanel => timeSeries(`Time saved by reuse per ${view.noun}`, 's',
  `Connection setup time reuse saved per second of wall time, per ${view.noun}: for each reused request, the origin's typical measured setup duration. ` +
  'Good: high, following the request rate: latency reuse took off requests. Bad: falling while traffic holds, or 0: reuse stopped. ' +
  'It stays 0 until a setup was measured.',
  [{ expr: sumRate(view.by, selected(metric.savedTime), RATE), legend: view.legend }],
  { width: 12 });

export const newConnections = (view: View): TimeSeriesPanel => timeSeries(`New connections per ${view.noun}`, 'suffix: conn/s',
  `Connections opened per second, per ${view.noun} and HTTP version. ` +
  'Good: near 0 in steady state; a pool opens connections at start and when traffic grows. ' +
  'Bad: a steady rate that follows the request rate: connections are not being reused.',
  [{ expr: sumRate(`${view.by}, network_protocol_version`, selected(metric.connectionsOpened), RATE), legend: `${view.legend} HTTP/{{network_protocol_version}}` }],
  { width: 12 });

// Connections.

export const openConnections = (view?: View): TimeSeriesPanel => timeSeries('Open connections', 'short',
  'Open sockets now: active (a request in flight) or idle (waiting to be reused). ' +
  'Good: idle connections are there when the next request comes. ' +
  'Bad: idle at 0 while active sits flat at a ceiling: the pool is at its connection limit (see Time in queue).',
  [{
    expr: `sum by (${view ? `${view.by}, ` : ''}http_connection_state) (${selected(metric.openConnections)})`,
    legend: `${view ? `${view.legend} ` : ''}{{http_connection_state}}`,
  }],
  { stack: true });

export const setupTime = (view: View): TimeSeriesPanel => timeSeries('Connection setup time', 's',
  `DNS + TCP + TLS of the connections opened, p50 and p95 per ${view.noun}: what every new connection costs and reuse saves. ` +
  'Good: low and steady (under a millisecond on a LAN, one to three round trips across the internet). ' +
  'Bad: p95 far above p50 (slow DNS, packet loss, slow TLS). No line while no connection is opened, which good reuse makes common.',
  quantiles(view, metric.setupDuration, [0.5, 0.95]));

// A mean, not a quantile: the phases have no buckets but at POOLSCOPE_HISTOGRAMS=detailed, and
// which phase dominates is what the panel answers.
export const setupPhases = (): TimeSeriesPanel => timeSeries('Connection setup by phase (mean)', 's',
  'Mean of each setup phase: DNS lookup, TCP connect, TLS handshake. Good: TCP about one round trip, TLS one or two, DNS near 0 (cached). ' +
  'Bad: one phase far above the others says what to fix: ' +
  'DNS (resolver or missing cache), TCP (distance, lost SYNs), TLS (no session resumption, long certificate chains). ' +
  'A host given as an IP address has no DNS phase; a runtime that does not show the phases leaves this empty.',
  [{
    expr: mean('poolscope_connection_phase', metric.phaseDuration, [...SELECTED], RATE),
    legend: '{{poolscope_connection_phase}}',
  }]);

export const requestsPerConnection = (view: View): TimeSeriesPanel => timeSeries('Requests per connection', 'short',
  `Mean number of requests a connection served before it closed, per ${view.noun}. ` +
  'Good: dozens or more; each handshake is shared by many requests. ' +
  'Bad: close to 1: each connection is used once (Connection: close, a client per request, or keep-alive shorter than the gaps between requests). ' +
  'Only closed connections count, so a healthy long-lived pool shows few points.',
  [{ expr: mean(view.by, metric.connectionRequests, [...SELECTED], RATE), legend: view.legend }]);

export const connectionLifetime = (view: View): TimeSeriesPanel => timeSeries('Connection lifetime', 's',
  `How long closed connections had been open, p50 and p95 per ${view.noun}. ` +
  'Good: minutes or more for an origin in steady use. ' +
  'Bad: lifetimes near the keep-alive timeout (undici: 4 s by default, or the server\'s Keep-Alive header) with steady traffic: ' +
  'connections close just before they would be reused.',
  quantiles(view, metric.connectionDuration, [0.5, 0.95]));

export const streamsPerConnection = (view: View): TimeSeriesPanel => timeSeries('HTTP/2 streams per connection (peak)', 'short',
  `Most requests carried at once by one connection since the previous scrape, per ${view.noun} (highest of the instances). ` +
  '1 is HTTP/1.1 without pipelining. Good: above 1 on HTTP/2, requests multiplexed on few connections. ' +
  'Bad: 1 while New connections shows HTTP/2 connections climbing with concurrency: the client opens a connection per request instead of multiplexing.',
  [{ expr: `max by (${view.by}, network_protocol_version) (${selected(metric.streamsPeak)})`, legend: `${view.legend} HTTP/{{network_protocol_version}}` }]);

// Latency and pool pressure.

export const timeToFirstByte = (): TimeSeriesPanel => timeSeries('Time to first byte: cold vs warm', 's',
  'From the app\'s dispatch (or, where poolscope does not see it, the request\'s creation) to its response headers, p50 and p95, ' +
  'on a new connection (cold) and on a reused one (warm). ' +
  'The gap between cold and warm is what a connection setup adds to a request. ' +
  'Good: most traffic warm, and the gap small next to the warm time. Bad: a wide gap while reuse is low: users wait for handshakes.',
  [0.5, 0.95].flatMap((q) => [['false', 'cold'], ['true', 'warm']].map(([reused, name]) => ({
    expr: quantile(q, '', metric.timeToFirstByte, [...SELECTED, `poolscope_connection_reused="${reused}"`], RATE),
    legend: `p${q * 100} ${name}`,
  }))));

export const timeInQueue = (view: View, withSetup = false): TimeSeriesPanel => timeSeries(`Time in queue per ${view.noun}`, 's',
  `From the application's dispatch to the request's headers being written, p95 per ${view.noun}: ` +
  'waiting for a free connection, plus the setup of a new one (for a dispatcher poolscope has not instrumented, the wait in its pool\'s queue is not seen). ' +
  'Good: near 0, or near the setup time for requests that opened a connection. ' +
  'Bad: above the setup time and rising with load: requests wait for a connection. Raise the pool\'s `connections`, or lower the concurrency.',
  [
    ...quantiles(view, metric.timeInQueue, [0.95]),
    ...(withSetup ? [{ expr: quantile(0.95, view.by, metric.setupDuration, [...SELECTED], RATE), legend: `setup p95 ${view.legend}` }] : []),
  ]);

export const activeRequests = (view: View): TimeSeriesPanel => timeSeries('Active requests and peak', 'short',
  `Requests in flight at the scrape, and the highest level since the previous scrape (it catches bursts between scrapes), per ${view.noun}` +
  `${view === BY_ORIGIN ? ', busiest instance' : ''}. ` +
  'Good: the peak well below the pool\'s connection limit. ' +
  'Bad: the peak flat at the limit while Time in queue rises: the pool is too small for the traffic.',
  [
    { expr: `max by (${view.by}) (${selected(metric.activeRequests)})`, legend: `active ${view.legend}` },
    { expr: `max by (${view.by}) (${selected(metric.activeRequestsPeak)})`, legend: `peak ${view.legend}` },
  ]);

// Churn, pools and errors.

export const idleTime = (view: View): TimeSeriesPanel => timeSeries('Idle time before reuse', 's',
  `How long a connection sat idle before the request that reused it, p50 and p95 per ${view.noun}: ` +
  'the gaps between requests that the keep-alive timeout (undici: 4 s by default) covered. ' +
  'Good: p95 well below the keep-alive, and no Keep-alive churn. ' +
  'Bad: Keep-alive churn beside it: longer gaps closed the connections, and Gaps that closed connections shows them.',
  quantiles(view, metric.idleTime, [0.5, 0.95]));

export const reopenedAfter = (view: View): TimeSeriesPanel => timeSeries('Gaps that closed connections', 's',
  `For each connection reopened after an idle one closed (Keep-alive churn), how long the closed one had sat idle when a connection was needed again, p50 and p95 per ${view.noun}: ` +
  'the gaps between requests that the keep-alive did not cover. Good: no line, no connection was reopened. ' +
  `Bad: a line: set keepAliveTimeout above its p95 (${KEEP_ALIVE_HEADROOM} times it, as the PoolscopeKeepAliveChurn alert advises), ` +
  'with the server\'s own idle timeout at least as long. ' +
  'Gaps of minutes are beyond what keep-alive can cover: servers and load balancers close idle connections after about a minute.',
  quantiles(view, metric.reopenedAfter, [0.5, 0.95]));

export const keepAliveChurn = (view: View): TimeSeriesPanel => timeSeries('Keep-alive churn', 'suffix: conn/s',
  `Per ${view.noun}: connections opened within the churn window (60 s) after an idle connection to the origin closed, ` +
  'beside idle connections closed, per second. Good: no reopens. ' +
  'Bad: reopens following the idle closes: keep-alive is shorter than the gaps between requests. ' +
  'Gaps that closed connections says how long a keepAliveTimeout would have kept them.',
  [
    { expr: sumRate(view.by, selected(metric.connectionsReopened), RATE), legend: `reopened ${view.legend}` },
    { expr: sumRate(view.by, selected(metric.connectionsClosed, 'http_connection_state="idle"'), RATE), legend: `idle closed ${view.legend}` },
  ]);

export const connectErrors = (view: View): TimeSeriesPanel => timeSeries(`Connect errors per ${view.noun}`, 'suffix: errors/s',
  `Failed connection attempts per second, per ${view.noun} and error type (ECONNREFUSED, ENOTFOUND, UND_ERR_CONNECT_TIMEOUT, ` +
  'a TLS code such as CERT_HAS_EXPIRED). Good: no series at all. ' +
  'Bad: any steady rate: the origin is down or unreachable, or its certificate is rejected, and requests to it fail before being sent.',
  [{ expr: sumRate(`${view.by}, error_type`, selected(metric.connectionErrors), RATE), legend: `${view.legend} {{error_type}}` }],
  { thresholds: ANY_IS_BAD });

export const poolsCreated = (view: View): TimeSeriesPanel => timeSeries('Pools created', 'suffix: pools/s',
  `Dispatchers (undici Pool or Client instances) seen for the first time, per second and ${view.noun}. ` +
  'Good: a few at start-up, then 0. Bad: a steady rate: a client is built per request (a new Agent, or an SDK client made in the request handler), ' +
  'so no connection can be reused. Build it once and share it.',
  [{ expr: sumRate(view.by, selected(metric.poolsCreated), RATE), legend: view.legend }],
  { width: 12 });

export const pools = (view: View): TimeSeriesPanel => timeSeries('Pools per origin', 'short',
  `Distinct dispatchers holding an open connection to the origin, per ${view.noun}` +
  `${view === BY_ORIGIN ? ', busiest instance' : ''}. ` +
  'Good: 1 (or one per purpose, such as a streaming and a batch client). ' +
  'Bad: many, or climbing: several Agents split the traffic to one origin, so each reuses less.',
  [{ expr: `max by (${view.by}) (${selected(metric.pools)})`, legend: view.legend }],
  { width: 12 });

export const closedConnections = (view: View): TimeSeriesPanel => timeSeries('Connections closed', 'suffix: conn/s',
  `Connections closed per second, per ${view.noun}: idle (keep-alive expiry, server close) or active (closed with a request in flight). ` +
  'Good: few, all idle. Bad: active closes: the server or a proxy resets connections under requests (retries, ECONNRESET).',
  [{ expr: sumRate(`${view.by}, http_connection_state`, selected(metric.connectionsClosed), RATE), legend: `${view.legend} {{http_connection_state}}` }]);

// The table of the worst origins.

const rangeRate = (selector: string) => sumRate(ORIGIN, selector, RANGE);
const rangeQuantile = (histogram: string) => quantile(0.95, ORIGIN, histogram, SELECTED, RANGE);

export const worstOrigins = (detailUrl: string): TablePanel => ({
  kind: 'table',
  title: 'Origins, lowest reuse first',
  unit: 'short',
  width: 24,
  description: 'Every selected origin over the time range shown, a row per pool type calling it, lowest reuse first. Good: reuse green (at or above the target) on every busy origin. ' +
    'Bad: a red row with many requests costs the most; its other columns say why (connections opened, setup cost, queueing, connect errors). ' +
    'Click an address for the origin detail dashboard.',
  rowLabels: ['server_address', 'server_port', 'url_scheme', 'poolscope_pool_type'],
  sortBy: 'Reuse',
  link: { title: 'Origin detail', url: detailUrl },
  columns: [
    { title: 'Reuse', unit: 'percentunit', min: 0, max: 1, thresholds: REUSE_THRESHOLDS,
      expr: ratio(rangeRate(selected(metric.requests, 'poolscope_connection_reused="true"')), rangeRate(selected(metric.requests))) },
    { title: 'Requests', unit: 'reqps', expr: rangeRate(selected(metric.requests)) },
    { title: 'New connections', unit: 'suffix: conn/s', expr: rangeRate(selected(metric.connectionsOpened)) },
    { title: 'Setup p95', unit: 's', expr: rangeQuantile(metric.setupDuration) },
    { title: 'Time in queue p95', unit: 's', expr: rangeQuantile(metric.timeInQueue) },
    { title: 'Connect errors', unit: 'suffix: errors/s', thresholds: ANY_IS_BAD, expr: rangeRate(selected(metric.connectionErrors)) },
    { title: 'Time saved', unit: 's', expr: rangeRate(selected(metric.savedTime)) },
  ],
});
