/**
 * poolscope's Prometheus recording and alerting rules: the one source of the rules file and of
 * the Kubernetes PrometheusRule. Recording rules are named `level:metric:operations`, where the
 * level `job_origin` keeps `job` and the origin's labels (`url_scheme`, `server_address`,
 * `server_port`, and `poolscope_pool_type`, the kind of pool that called it).
 *
 * Every alert looks at a window shorter than its `for`, so one burst can never hold a condition
 * true for long enough to fire, and keeps firing (`keep_firing_for`) through a short recovery so a
 * figure hovering at its threshold pages once.
 */
import { metric, ORIGIN, ratio, sumRate } from './promql.ts';

export interface RuleOptions {
  /** Share of requests that should go on a reused connection. Default 0.85. */
  readonly reuseTarget: number;
  /** Requests per second an origin needs (over 5 m) before its reuse or queueing may alert. Default 0.1. */
  readonly minRequestsPerSecond: number;
  /** Time in queue p95 never alerted on below this, in seconds, however fast setups are. Default 0.025. */
  readonly minQueueSeconds: number;
  /** Failed connection attempts per second, per error type, that alert. Default 0.01 (3 in 5 minutes). */
  readonly connectErrorsPerSecond: number;
  /** Pools created per minute that, sustained, mean a client built per request. Default 1. */
  readonly poolsCreatedPerMinute: number;
  /** Connections reopened per minute after an idle close that, sustained, mean keep-alive is too short. Default 2. */
  readonly reopenedPerMinute: number;
  /** The runbook page; each alert links to its section. */
  readonly runbookUrl: string;
}

export const DEFAULT_RULE_OPTIONS: RuleOptions = {
  reuseTarget: 0.85,
  minRequestsPerSecond: 0.1,
  minQueueSeconds: 0.025,
  connectErrorsPerSecond: 0.01,
  poolsCreatedPerMinute: 1,
  reopenedPerMinute: 2,
  runbookUrl: 'https://github.com/poolscope/poolscope/blob/main/dashboards/README.md',
};

/**
 * The churn alert advises a keepAliveTimeout of the p95 of the gaps that closed connections times
 * this, rounded up, as `poolscope report` does (src/cli/report/keep-alive.ts; a test holds the two
 * equal). Written again here because dashboards/ ships without src/.
 */
export const KEEP_ALIVE_HEADROOM = 1.5;
/** A keepAliveTimeout above this, in milliseconds, outlasts what servers and load balancers keep idle: none is advised. */
export const MAX_SENSIBLE_KEEP_ALIVE_MS = 60_000;

export interface RecordingRule { readonly record: string; readonly expr: string }
export interface AlertingRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly keep_firing_for: string;
  readonly labels: { readonly severity: 'critical' | 'warning' | 'info' };
  readonly annotations: { readonly summary: string; readonly description: string; readonly runbook_url: string };
}
export interface RuleGroup { readonly name: string; readonly rules: readonly (RecordingRule | AlertingRule)[] }

const JOB_ORIGIN = `job, ${ORIGIN}`;

/** Recording rule names. */
export const recorded = {
  requests5m: 'job_origin:poolscope_client_requests:rate5m',
  reused5m: 'job_origin:poolscope_client_requests_reused:rate5m',
  reuseRatio5m: 'job_origin:poolscope_client_requests_reused:ratio_rate5m',
  requests1h: 'job_origin:poolscope_client_requests:rate1h',
  reused1h: 'job_origin:poolscope_client_requests_reused:rate1h',
  reuseRatio1h: 'job_origin:poolscope_client_requests_reused:ratio_rate1h',
  queueP95: 'job_origin:http_client_request_time_in_queue:p95_rate5m',
  setupP95: 'job_origin:poolscope_client_connection_setup_duration:p95_rate1h',
  connectErrors5m: 'job_origin_error_type:poolscope_client_connection_errors:rate5m',
  opened5m: 'job_origin:poolscope_client_connections_opened:rate5m',
  reopened5m: 'job_origin:poolscope_client_connections_reopened:rate5m',
  reopenedAfterP95: 'job_origin:poolscope_client_connection_reopened_after:p95_rate1h',
  poolsCreated5m: 'job_origin:poolscope_client_pools_created:rate5m',
  poolsOpen5m: 'job_origin:poolscope_client_pools:max_over_time5m',
} as const;

function recording(): RuleGroup {
  const reused = `${metric.requests}{poolscope_connection_reused="true"}`;
  const p95 = (histogram: string, window: string) =>
    `histogram_quantile(0.95, sum by (le, ${JOB_ORIGIN}) (rate(${histogram}_bucket[${window}]))) >= 0`;
  return {
    name: 'poolscope.recording',
    rules: [
      { record: recorded.requests5m, expr: sumRate(JOB_ORIGIN, metric.requests, '5m') },
      { record: recorded.reused5m, expr: sumRate(JOB_ORIGIN, reused, '5m') },
      { record: recorded.reuseRatio5m, expr: ratio(recorded.reused5m, recorded.requests5m) },
      { record: recorded.requests1h, expr: sumRate(JOB_ORIGIN, metric.requests, '1h') },
      { record: recorded.reused1h, expr: sumRate(JOB_ORIGIN, reused, '1h') },
      { record: recorded.reuseRatio1h, expr: ratio(recorded.reused1h, recorded.requests1h) },
      { record: recorded.queueP95, expr: p95(metric.timeInQueue, '5m') },
      { record: recorded.setupP95, expr: p95(metric.setupDuration, '1h') },
      { record: recorded.connectErrors5m, expr: sumRate(`${JOB_ORIGIN}, error_type`, metric.connectionErrors, '5m') },
      { record: recorded.opened5m, expr: sumRate(JOB_ORIGIN, metric.connectionsOpened, '5m') },
      { record: recorded.reopened5m, expr: sumRate(JOB_ORIGIN, metric.connectionsReopened, '5m') },
      { record: recorded.reopenedAfterP95, expr: p95(metric.reopenedAfter, '1h') },
      { record: recorded.poolsCreated5m, expr: sumRate(JOB_ORIGIN, metric.poolsCreated, '5m') },
      { record: recorded.poolsOpen5m, expr: `max by (${JOB_ORIGIN}) (max_over_time(${metric.pools}[5m]))` },
    ],
  };
}

/** Rates print as plain decimals: `humanize` would print 0.17 requests/s as "166.7m". */
const DECIMAL = 'printf "%.2f"';
const ORIGIN_TEXT = '{{ $labels.url_scheme }}://{{ $labels.server_address }}:{{ $labels.server_port }}';

/**
 * Matchers for the alert's own job and origin, filled in by `printf` in a template. The arguments
 * are numbered, so that a query may name the origin more than once.
 */
const SAME_ORIGIN = '{job="%[1]s",url_scheme="%[2]s",server_address="%[3]s",server_port="%[4]s",poolscope_pool_type="%[5]s"}';

/** The start of a template's `with`: `query` (with SAME_ORIGIN in it) run for the alert's origin. */
function withQuery(query: string): string {
  return `{{ with printf \`${query}\` $labels.job $labels.url_scheme $labels.server_address $labels.server_port $labels.poolscope_pool_type | query }}`;
}

/**
 * A template that runs `query` (with SAME_ORIGIN in it) and prints its first value through
 * `format` (a template function such as humanizePercentage), or `otherwise` when it has none.
 */
function figure(query: string, format: string, otherwise: string): string {
  return `${withQuery(query)}{{ . | first | value | ${format} }}{{ else }}${otherwise}{{ end }}`;
}

/**
 * The keepAliveTimeout to advise, in milliseconds, from a query of the gaps' p95 in seconds:
 * advisedKeepAliveMs() of src/cli/report/keep-alive.ts, step for step, in PromQL. Rounded up to
 * two significant digits; below 10 ms the step stays 1 ms.
 */
export function advisedKeepAliveMs(gapP95Seconds: string): string {
  const ms = `${gapP95Seconds} * ${KEEP_ALIVE_HEADROOM} * 1000`;
  const step = `10 ^ clamp_min(floor(log10(${ms})) - 1, 0)`;
  return `ceil(${ms} / ${step}) * ${step}`;
}

/**
 * The churn alert's advice, from the p95 of the gaps that closed the origin's connections: the
 * keepAliveTimeout to set; or, past what servers keep idle, that no keep-alive covers the gaps;
 * or, with no gap measured in the hour, advice without a figure.
 */
function keepAliveAdvice(): string {
  const serverCap = 'The server\'s own idle timeout (its `Keep-Alive: timeout`) must be at least as long.';
  // `value` is a float64, and a template's `le` compares it only with a float constant.
  return `${withQuery(advisedKeepAliveMs(`${recorded.reopenedAfterP95}${SAME_ORIGIN}`))}{{ $ms := . | first | value }}` +
    `{{ if le $ms ${MAX_SENSIBLE_KEEP_ALIVE_MS.toFixed(1)} }}` +
    `set \`keepAliveTimeout: {{ $ms | printf "%.0f" }}\` on the Agent, ${KEEP_ALIVE_HEADROOM} times the p95 of the gaps that closed them over the last hour. ${serverCap}` +
    '{{ else }}the gaps that closed them run longer than a minute, longer than servers and load balancers keep idle connections, ' +
    'so no keep-alive covers them.' +
    `{{ end }}{{ else }}a keepAliveTimeout above the pauses between requests would have kept them. ${serverCap}{{ end }}`;
}

/**
 * The command that gives the alert's findings in plain words, with the fix, from the Prometheus
 * that fired it: its own job, origin and pool type, over the last hour. `$externalURL` is the
 * Prometheus' web address; behind a ruler (Thanos, Mimir) the querier's goes there instead.
 */
const REPORT_SENTENCE = 'Findings and the fix, in plain words: `poolscope report --prometheus {{ $externalURL }} --selector ' +
  '\'{job="{{ $labels.job }}",url_scheme="{{ $labels.url_scheme }}",server_address="{{ $labels.server_address }}",' +
  'server_port="{{ $labels.server_port }}",poolscope_pool_type="{{ $labels.poolscope_pool_type }}"}\' --range 1h`.';

function alert(
  name: string, severity: AlertingRule['labels']['severity'], expr: string, forDuration: string, keepFiring: string,
  summary: string, description: string, options: RuleOptions,
): AlertingRule {
  return {
    alert: name,
    expr,
    for: forDuration,
    keep_firing_for: keepFiring,
    labels: { severity },
    annotations: { summary, description: `${description} ${REPORT_SENTENCE}`, runbook_url: `${options.runbookUrl}#${name.toLowerCase()}` },
  };
}

function alerting(options: RuleOptions): RuleGroup {
  const target = options.reuseTarget;
  const enoughTraffic = `${recorded.requests5m} >= ${options.minRequestsPerSecond}`;
  const percent = `${Math.round(target * 100)}%`;
  return {
    name: 'poolscope.alerts',
    rules: [
      alert('PoolscopeLowConnectionReuse', 'warning',
        `${recorded.reuseRatio5m} < ${target}\nand\n${recorded.reuseRatio1h} < ${target}\nand\n${enoughTraffic}`,
        '10m', '10m',
        `{{ $labels.job }} reuses few connections to ${ORIGIN_TEXT}`,
        `Only {{ $value | humanizePercentage }} of the requests {{ $labels.job }} sent to ${ORIGIN_TEXT} over the last 5 minutes went on a reused connection ` +
        `(${figure(`${recorded.reuseRatio1h}${SAME_ORIGIN}`, 'humanizePercentage', 'unknown')} over the last hour; target ${percent}), ` +
        `at ${figure(`${recorded.requests5m}${SAME_ORIGIN}`, DECIMAL, 'unknown')} requests/s. ` +
        'Every other request paid for a new DNS + TCP + TLS setup.',
        options),
      alert('PoolscopeRequestsQueueing', 'warning',
        `${recorded.queueP95}\n> clamp_min(${recorded.setupP95} or 0 * ${recorded.queueP95}, ${options.minQueueSeconds})\nand\n${enoughTraffic}`,
        '10m', '10m',
        `Requests from {{ $labels.job }} to ${ORIGIN_TEXT} wait for a connection`,
        `The slowest 5% of requests {{ $labels.job }} sent to ${ORIGIN_TEXT} over the last 5 minutes waited {{ $value | humanizeDuration }} or more ` +
        'between dispatch and being written to a connection, longer than opening a new connection takes ' +
        `(setup p95 over the last hour: ${figure(`${recorded.setupP95}${SAME_ORIGIN}`, 'humanizeDuration', 'none opened')}). ` +
        `Peak active requests in one instance: ${figure(`max(${metric.activeRequestsPeak}${SAME_ORIGIN})`, 'humanize', 'not reported')}. ` +
        'The pool is too small for the traffic.',
        options),
      alert('PoolscopeConnectErrors', 'warning',
        `${recorded.connectErrors5m} >= ${options.connectErrorsPerSecond}`,
        '10m', '10m',
        `{{ $labels.job }} cannot connect to ${ORIGIN_TEXT} ({{ $labels.error_type }})`,
        `{{ $value | ${DECIMAL} }} connection attempts per second from {{ $labels.job }} to ${ORIGIN_TEXT} failed with ` +
        `{{ $labels.error_type }} over the last 5 minutes, while ${figure(`${recorded.opened5m}${SAME_ORIGIN}`, DECIMAL, '0')} per second succeeded. ` +
        'Requests that needed those connections failed before being sent.',
        options),
      // An undici 7+ Agent that poolscope's interceptor does not wrap drops an origin's Pool when
      // its last connection closes, so an origin whose connections all close between requests
      // also gets a pool per request, one at a time. Clients built per request hold several
      // pools open at once.
      alert('PoolscopeClientPerRequest', 'warning',
        `${recorded.poolsCreated5m} * 60 > ${options.poolsCreatedPerMinute}\nand\n${recorded.poolsOpen5m} > 1`,
        '15m', '15m',
        `{{ $labels.job }} keeps building new HTTP clients for ${ORIGIN_TEXT}`,
        `{{ $labels.job }} created {{ $value | ${DECIMAL} }} new connection pools per minute for ${ORIGIN_TEXT} over the last 5 minutes, ` +
        `at ${figure(`${recorded.requests5m}${SAME_ORIGIN}`, DECIMAL, 'unknown')} requests/s, with up to ` +
        `${figure(`${recorded.poolsOpen5m}${SAME_ORIGIN}`, 'humanize', 'several')} holding connections at once in one instance: ` +
        'an {{ $labels.poolscope_pool_type }} client (an Agent, or an SDK client that builds its own) is built per request or per task, ' +
        'so its connections are never reused.',
        options),
      alert('PoolscopeKeepAliveChurn', 'info',
        `${recorded.reopened5m} * 60 > ${options.reopenedPerMinute}`,
        '15m', '15m',
        `Keep-alive to ${ORIGIN_TEXT} is shorter than {{ $labels.job }}'s gaps between requests`,
        `{{ $labels.job }} reopened {{ $value | ${DECIMAL} }} connections per minute to ${ORIGIN_TEXT} over the last 5 minutes, ` +
        `each within a minute of an idle one closing (of ${figure(`${recorded.opened5m}${SAME_ORIGIN} * 60`, DECIMAL, 'unknown')} opened per minute). ` +
        `Connections close just before the next request needs them: ${keepAliveAdvice()}`,
        options),
    ],
  };
}

export function ruleGroups(options: RuleOptions = DEFAULT_RULE_OPTIONS): RuleGroup[] {
  return [recording(), alerting(options)];
}
