/**
 * The one place that names poolscope's metrics. The README table, the dashboards and the
 * alert rules are checked against this list, and this list against the metric contract.
 */

export type InstrumentKind = 'Counter' | 'UpDownCounter' | 'Gauge' | 'Histogram';

export interface MetricSpec {
  readonly name: string;
  readonly instrument: InstrumentKind;
  readonly unit: string;
  /** Attributes beyond the origin's (`server.address`, `server.port`, `url.scheme`) and `poolscope.pool.type`. */
  readonly extraAttributes: readonly string[];
  readonly description: string;
}

export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT = 'server.port';
export const ATTR_URL_SCHEME = 'url.scheme';
export const ATTR_REUSED = 'poolscope.connection.reused';
export const ATTR_CONNECTION_STATE = 'http.connection.state';
export const ATTR_PROTOCOL_VERSION = 'network.protocol.version';
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_PHASE = 'poolscope.connection.phase';
export const ATTR_POOL_TYPE = 'poolscope.pool.type';

/**
 * Which kind of pool carried a series (`poolscope.pool.type`): `undici` for Node's `fetch` and
 * the undici package, `http.Agent` for `node:http` and `node:https`.
 */
export type PoolType = 'undici' | 'http.Agent';

/** The `server.address` every origin past `maxOrigins` is folded into. */
export const OTHER_ORIGIN = '_other';

function spec(
  name: string,
  instrument: InstrumentKind,
  unit: string,
  extraAttributes: readonly string[],
  description: string,
): MetricSpec {
  return { name, instrument, unit, extraAttributes, description };
}

export const METRICS = {
  requests: spec('poolscope.client.requests', 'Counter', '{request}', [ATTR_REUSED],
    'Requests whose headers were written to a socket; reused=false is the socket\'s first request.'),
  activeRequests: spec('http.client.active_requests', 'UpDownCounter', '{request}', [],
    'Requests created and not yet finished (trailers, error or abort).'),
  activeRequestsPeak: spec('poolscope.client.active_requests.peak', 'Gauge', '{request}', [],
    'Highest number of active requests since the previous collection.'),
  timeInQueue: spec('http.client.request.time_in_queue', 'Histogram', 's', [],
    'From the app\'s dispatch (or, where dispatch is not seen, the request\'s creation) to its headers being written: pool queue, client queue and, for a new socket, connection setup.'),
  timeToFirstByte: spec('poolscope.client.request.time_to_first_byte', 'Histogram', 's', [ATTR_REUSED],
    'From the app\'s dispatch (or the request\'s creation) to its response headers, on a new or a reused connection.'),
  connectionsOpened: spec('poolscope.client.connections.opened', 'Counter', '{connection}', [ATTR_PROTOCOL_VERSION],
    'Sockets connected (TCP, and TLS for https).'),
  connectionErrors: spec('poolscope.client.connection.errors', 'Counter', '{error}', [ATTR_ERROR_TYPE],
    'Failed connection attempts.'),
  setupDuration: spec('poolscope.client.connection.setup.duration', 'Histogram', 's', [],
    'From connection attempt to connected: DNS + TCP + TLS.'),
  phaseDuration: spec('poolscope.client.connection.phase.duration', 'Histogram', 's', [ATTR_PHASE],
    'The connection setup split into DNS lookup, TCP connect and TLS handshake, where the runtime shows them.'),
  openConnections: spec('http.client.open_connections', 'UpDownCounter', '{connection}', [ATTR_CONNECTION_STATE, ATTR_PROTOCOL_VERSION],
    'Open sockets now, busy (active) or idle.'),
  connectionDuration: spec('http.client.connection.duration', 'Histogram', 's', [],
    'Lifetime of a closed socket.'),
  connectionRequests: spec('poolscope.client.connection.requests', 'Histogram', '{request}', [],
    'Requests a socket served, recorded when it closes.'),
  idleTime: spec('poolscope.client.connection.idle_time', 'Histogram', 's', [],
    'How long a socket sat idle before the request that reused it.'),
  connectionsClosed: spec('poolscope.client.connections.closed', 'Counter', '{connection}', [ATTR_CONNECTION_STATE, ATTR_PROTOCOL_VERSION],
    'Closed sockets; active means closed with requests in flight.'),
  connectionsReopened: spec('poolscope.client.connections.reopened', 'Counter', '{connection}', [],
    'New sockets opened within the churn window after an idle socket to the origin closed (not when both belong to different known dispatchers): keep-alive shorter than the gaps between requests.'),
  reopenedAfter: spec('poolscope.client.connection.reopened_after', 'Histogram', 's', [],
    'For each reopened socket, how long the closed one had been idle when a socket was needed again: the gap a keep-alive must outlast.'),
  savedTime: spec('poolscope.client.connection.saved_time', 'Counter', 's', [],
    'Estimated connection setup time saved by reuse: the origin\'s typical setup duration per reused request.'),
  reuseRatio: spec('poolscope.client.connection.reuse_ratio', 'Gauge', '1', [],
    'Reused / all requests over the last 60 s; absent while the origin had no request in that window.'),
  streamsPeak: spec('poolscope.client.connection.streams.peak', 'Gauge', '{stream}', [ATTR_PROTOCOL_VERSION],
    'Most concurrent requests on any one socket since the previous collection: HTTP/2 multiplexing, HTTP/1.1 pipelining.'),
  pools: spec('poolscope.client.pools', 'Gauge', '{pool}', [],
    'Distinct dispatchers (Pool, or Client used alone) with an open socket to the origin.'),
  poolsCreated: spec('poolscope.client.pools.created', 'Counter', '{pool}', [],
    'Dispatchers seen for the first time: a steady rate means a client is built per request.'),
} as const satisfies Record<string, MetricSpec>;

export type MetricKey = keyof typeof METRICS;

/** The histograms of the catalog. */
export type HistogramKey = 'setupDuration' | 'phaseDuration' | 'timeInQueue' | 'timeToFirstByte' | 'connectionDuration'
  | 'connectionRequests' | 'idleTime' | 'reopenedAfter';

/** Bucket boundaries (inclusive upper bounds) of every histogram: one layout for a whole process. */
export type HistogramLayout = Readonly<Record<HistogramKey, readonly number[]>>;

/** How much detail histograms export (`histograms` option): their buckets, and so their series. */
export type HistogramDetail = 'default' | 'detailed' | 'minimal';

/** The gaps that keep-alive timeouts are set around: 1 s, undici's 4 s, Node servers' 5 s, 15 s, load balancers' 60 s. */
const KEEP_ALIVE_SECONDS = [0.25, 1, 4, 5, 15, 60];

/**
 * `default`: the buckets the dashboards, alerts and report need, and no more (each metric's
 * question and the resolution it gets are beside it). Series per origin: docs/metrics.md.
 */
const DEFAULT_LAYOUT: HistogramLayout = {
  // Cold vs warm p50 and p95 that tell a LAN (under 10 ms) from a region away (10-100 ms), a
  // handshake's few round trips (0.1-0.25 s) and a slow API or an LLM's first token (0.5-10 s).
  timeToFirstByte: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
  // Whether requests wait at all (1 ms), for a setup (10-250 ms), or for a busy pool (0.25-5 s).
  timeInQueue: [0.001, 0.01, 0.1, 0.25, 1, 5],
  // A LAN (under 1 ms), a region (1-10 ms), across continents (10-100 ms), something broken (over 1 s).
  setupDuration: [0.001, 0.01, 0.1, 1],
  // Which phase dominates: a mean per phase says it (sum and count only).
  phaseDuration: [],
  // Sockets closed within a minute (churn, a client per request), or long-lived (10 minutes).
  connectionDuration: [60, 600],
  // Requests per socket: its mean says whether handshakes are shared (sum and count only).
  connectionRequests: [],
  // Whether idle gaps sit below or above the usual keep-alive timeouts.
  idleTime: KEEP_ALIVE_SECONDS,
  // The same for the gaps that closed connections: the keep-alive to advise.
  reopenedAfter: KEEP_ALIVE_SECONDS,
};

/**
 * `detailed`: every bucket of earlier versions. Connection setup on a LAN takes well under a
 * millisecond and across continents a few hundred, LLM responses take up to a minute to start,
 * and undici's default keep-alive is 4 s: the boundaries resolve each of those.
 */
const IDLE_SECONDS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 10, 15, 30, 60, 120, 300];
const SETUP_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const DETAILED_LAYOUT: HistogramLayout = {
  setupDuration: SETUP_SECONDS,
  phaseDuration: SETUP_SECONDS,
  timeInQueue: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  timeToFirstByte: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 30, 60],
  connectionDuration: [0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
  connectionRequests: [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
  idleTime: IDLE_SECONDS,
  reopenedAfter: IDLE_SECONDS,
};

/** `minimal`: sum and count of every histogram, for means only. */
const MINIMAL_LAYOUT: HistogramLayout = {
  setupDuration: [], phaseDuration: [], timeInQueue: [], timeToFirstByte: [],
  connectionDuration: [], connectionRequests: [], idleTime: [], reopenedAfter: [],
};

export const HISTOGRAM_LAYOUTS: Readonly<Record<HistogramDetail, HistogramLayout>> = {
  default: DEFAULT_LAYOUT,
  detailed: DETAILED_LAYOUT,
  minimal: MINIMAL_LAYOUT,
};
