/**
 * The metric contract's names as the OpenTelemetry Prometheus exporter writes them: dots become
 * underscores, counters end in `_total`, histograms add `_bucket`/`_sum`/`_count`, no unit suffix.
 */
export const CONTRACT = {
  requests: ['undici.client.requests', 'counter'],
  activeRequests: ['http.client.active_requests', 'gauge'],
  activeRequestsPeak: ['undici.client.active_requests.peak', 'gauge'],
  timeInQueue: ['http.client.request.time_in_queue', 'histogram'],
  timeToFirstByte: ['undici.client.request.time_to_first_byte', 'histogram'],
  connectionsOpened: ['undici.client.connections.opened', 'counter'],
  connectionErrors: ['undici.client.connection.errors', 'counter'],
  setupDuration: ['undici.client.connection.setup.duration', 'histogram'],
  openConnections: ['http.client.open_connections', 'gauge'],
  connectionRequests: ['undici.client.connection.requests', 'histogram'],
  idleTime: ['undici.client.connection.idle_time', 'histogram'],
  connectionsReopened: ['undici.client.connections.reopened', 'counter'],
  savedTime: ['undici.client.connection.saved_time', 'counter'],
  streamsPeak: ['undici.client.connection.streams.peak', 'gauge'],
  pools: ['undici.client.pools', 'gauge'],
  poolsCreated: ['undici.client.pools.created', 'counter'],
} as const satisfies Record<string, readonly [string, 'counter' | 'gauge' | 'histogram']>;

export type SeriesKey = keyof typeof CONTRACT;

function prometheusName([name, kind]: readonly [string, string]): string {
  return name.replaceAll('.', '_') + (kind === 'counter' ? '_total' : '');
}

/** Prometheus name (histograms: without `_bucket`/`_sum`/`_count`) per series key. */
export const SERIES = Object.fromEntries(
  Object.entries(CONTRACT).map(([key, spec]) => [key, prometheusName(spec)]),
) as Record<SeriesKey, string>;

export const LABEL = {
  address: 'server_address',
  port: 'server_port',
  scheme: 'url_scheme',
  reused: 'undici_connection_reused',
  state: 'http_connection_state',
  protocol: 'network_protocol_version',
  errorType: 'error_type',
} as const;
