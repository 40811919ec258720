/**
 * PromQL building blocks shared by the dashboards and the alert rules. Metric names are the
 * Prometheus forms of the names in the metric contract: dots become underscores, counters end
 * in `_total`, histograms are read through `_bucket`, `_sum` and `_count`, and no unit suffix
 * is ever added.
 */

export const metric = {
  requests: 'poolscope_client_requests_total',
  activeRequests: 'http_client_active_requests',
  activeRequestsPeak: 'poolscope_client_active_requests_peak',
  timeInQueue: 'http_client_request_time_in_queue',
  timeToFirstByte: 'poolscope_client_request_time_to_first_byte',
  connectionsOpened: 'poolscope_client_connections_opened_total',
  connectionErrors: 'poolscope_client_connection_errors_total',
  setupDuration: 'poolscope_client_connection_setup_duration',
  phaseDuration: 'poolscope_client_connection_phase_duration',
  openConnections: 'http_client_open_connections',
  connectionDuration: 'http_client_connection_duration',
  connectionRequests: 'poolscope_client_connection_requests',
  idleTime: 'poolscope_client_connection_idle_time',
  connectionsClosed: 'poolscope_client_connections_closed_total',
  connectionsReopened: 'poolscope_client_connections_reopened_total',
  reopenedAfter: 'poolscope_client_connection_reopened_after',
  savedTime: 'poolscope_client_connection_saved_time_total',
  streamsPeak: 'poolscope_client_connection_streams_peak',
  pools: 'poolscope_client_pools',
  poolsCreated: 'poolscope_client_pools_created_total',
} as const;

/**
 * The labels that together name one origin: `scheme://address:port`, and the kind of pool that
 * called it, since the fix is in that client's code (an undici Agent or a node:http Agent).
 */
export const ORIGIN = 'url_scheme, server_address, server_port, poolscope_pool_type';
export const ORIGIN_LEGEND = '{{url_scheme}}://{{server_address}}:{{server_port}} ({{poolscope_pool_type}})';

/** A series selector: the metric, then its matchers. */
export function series(name: string, ...matchers: string[]): string {
  return matchers.length === 0 ? name : `${name}{${matchers.join(', ')}}`;
}

/** `sum by (by) (rate(selector[window]))`, or a plain `sum` when `by` is empty. */
export function sumRate(by: string, selector: string, window: string): string {
  return `${sum(by)}(rate(${selector}[${window}]))`;
}

/** `sum by (labels) `, or `sum` alone. */
function sum(by: string): string {
  return by === '' ? 'sum' : `sum by (${by}) `;
}

/**
 * A quantile of a histogram, as a series only where the histogram had observations: with none,
 * `histogram_quantile` gives NaN, which the comparison drops (NaN >= 0 is false).
 */
export function quantile(q: number, by: string, histogram: string, matchers: readonly string[], window: string): string {
  const buckets = series(`${histogram}_bucket`, ...matchers);
  return `histogram_quantile(${q}, ${sum(by === '' ? 'le' : `le, ${by}`)}(rate(${buckets}[${window}]))) >= 0`;
}

/** The mean of a histogram's observations, where it had any. */
export function mean(by: string, histogram: string, matchers: readonly string[], window: string): string {
  return ratio(
    sumRate(by, series(`${histogram}_sum`, ...matchers), window),
    sumRate(by, series(`${histogram}_count`, ...matchers), window),
  );
}

/** numerator / denominator, absent (never NaN or Inf) where the denominator is 0. */
export function ratio(numerator: string, denominator: string): string {
  return `${numerator}\n/\n(${denominator} > 0)`;
}

/** The share of requests sent on a connection that had already carried one. */
export function reuseRatio(by: string, matchers: readonly string[], window: string): string {
  return ratio(
    sumRate(by, series(metric.requests, ...matchers, 'poolscope_connection_reused="true"'), window),
    sumRate(by, series(metric.requests, ...matchers), window),
  );
}
