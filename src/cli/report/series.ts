import {
  ATTR_CONNECTION_STATE, ATTR_ERROR_TYPE, ATTR_POOL_TYPE, ATTR_PROTOCOL_VERSION, ATTR_REUSED, ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT, ATTR_URL_SCHEME, METRICS, type MetricKey,
} from '../../metrics/catalog.js';

export type SeriesKey = MetricKey;

/** A metric or attribute name as the OpenTelemetry Prometheus exporter writes it. */
function underscored(name: string): string {
  return name.replaceAll('.', '_');
}

/**
 * The agent's metric names as Prometheus sees them: dots become underscores, counters end in
 * `_total`, no unit suffix; a histogram's series add `_bucket`, `_sum` and `_count` to this.
 */
export const SERIES = Object.fromEntries(Object.entries(METRICS).map(([key, spec]) =>
  [key, underscored(spec.name) + (spec.instrument === 'Counter' ? '_total' : '')])) as Record<SeriesKey, string>;

export const LABEL = {
  address: underscored(ATTR_SERVER_ADDRESS),
  port: underscored(ATTR_SERVER_PORT),
  scheme: underscored(ATTR_URL_SCHEME),
  reused: underscored(ATTR_REUSED),
  state: underscored(ATTR_CONNECTION_STATE),
  protocol: underscored(ATTR_PROTOCOL_VERSION),
  errorType: underscored(ATTR_ERROR_TYPE),
  poolType: underscored(ATTR_POOL_TYPE),
} as const;
