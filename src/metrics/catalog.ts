/**
 * The one place that names poolscope's metrics. The README table, the dashboards and the
 * alert rules are checked against this list, and this list against the metric contract.
 */

export type InstrumentKind = 'Counter' | 'UpDownCounter' | 'Gauge' | 'Histogram';

export interface MetricSpec {
  readonly name: string;
  readonly instrument: InstrumentKind;
  readonly unit: string;
  /** Attributes beyond the origin's (`server.address`, `server.port`, `url.scheme`). */
  readonly extraAttributes: readonly string[];
  readonly description: string;
}

export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT = 'server.port';
export const ATTR_URL_SCHEME = 'url.scheme';
export const ATTR_REUSED = 'undici.connection.reused';
export const ATTR_CONNECTION_STATE = 'http.connection.state';
export const ATTR_PROTOCOL_VERSION = 'network.protocol.version';
export const ATTR_ERROR_TYPE = 'error.type';

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
  requests: spec('undici.client.requests', 'Counter', '{request}', [ATTR_REUSED],
    'Requests whose headers were written to a socket; reused=false is the socket\'s first request.'),
  activeRequests: spec('http.client.active_requests', 'UpDownCounter', '{request}', [],
    'Requests created and not yet finished (trailers, error or abort).'),
  activeRequestsPeak: spec('undici.client.active_requests.peak', 'Gauge', '{request}', [],
    'Highest number of active requests since the previous collection.'),
  timeToFirstByte: spec('undici.client.request.time_to_first_byte', 'Histogram', 's', [ATTR_REUSED],
    'From the request\'s creation to its response headers, on a new or a reused connection.'),
  connectionsOpened: spec('undici.client.connections.opened', 'Counter', '{connection}', [ATTR_PROTOCOL_VERSION],
    'Sockets connected (TCP, and TLS for https).'),
  connectionErrors: spec('undici.client.connection.errors', 'Counter', '{error}', [ATTR_ERROR_TYPE],
    'Failed connection attempts.'),
  setupDuration: spec('undici.client.connection.setup.duration', 'Histogram', 's', [],
    'From connection attempt to connected: DNS + TCP + TLS.'),
  openConnections: spec('http.client.open_connections', 'UpDownCounter', '{connection}', [ATTR_CONNECTION_STATE],
    'Open sockets now, busy (active) or idle.'),
  connectionDuration: spec('http.client.connection.duration', 'Histogram', 's', [],
    'Lifetime of a closed socket.'),
  connectionRequests: spec('undici.client.connection.requests', 'Histogram', '{request}', [],
    'Requests a socket served, recorded when it closes.'),
  idleTime: spec('undici.client.connection.idle_time', 'Histogram', 's', [],
    'How long a socket sat idle before the request that reused it.'),
  connectionsClosed: spec('undici.client.connections.closed', 'Counter', '{connection}', [ATTR_CONNECTION_STATE],
    'Closed sockets; active means closed with requests in flight.'),
  savedTime: spec('undici.client.connection.saved_time', 'Counter', 's', [],
    'Estimated connection setup time saved by reuse: the origin\'s typical setup duration per reused request.'),
  reuseRatio: spec('undici.client.connection.reuse_ratio', 'Gauge', '1', [],
    'Reused / all requests over the last 60 s; absent while the origin had no request in that window.'),
} as const satisfies Record<string, MetricSpec>;

export type MetricKey = keyof typeof METRICS;

/**
 * Histogram bucket boundaries (inclusive upper bounds). Connection setup on a LAN takes well
 * under a millisecond and across continents a few hundred, LLM responses take up to a minute
 * to start, and undici's default keep-alive is 4 s: the boundaries resolve each of those.
 */
export const BOUNDARIES = {
  setupDuration: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  timeToFirstByte: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 30, 60],
  connectionDuration: [0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
  connectionRequests: [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
  idleTime: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 10, 15, 30, 60, 120, 300],
} as const satisfies Partial<Record<MetricKey, readonly number[]>>;
