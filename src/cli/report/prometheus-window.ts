/**
 * The report's figures over a window of a Prometheus (or anything serving its HTTP query API:
 * Thanos, Mimir, VictoriaMetrics), per origin and pool type: the same `Figures` a reading of
 * /metrics gives, so the same diagnosis runs on them. Counters and histograms are their
 * `increase()` over the window, which adds up across instances and through their restarts as
 * Prometheus does; open connections, pools and active requests are the most the selected
 * instances held at once; throughput is `rate()` over the window. Counts are shown to a tenth.
 */
import type { Throughput } from './diagnose.js';
import type { Sample } from './exposition.js';
import { collectFigures, figuresKey, mean, originOf, poolTypeOf, type Figures, type Histogram, type OriginFigures } from './figures.js';
import { inTurns, PrometheusApi, QUERY_CONCURRENCY, shownUrl } from './prometheus-api.js';
import { LABEL, SERIES, type SeriesKey } from './series.js';
import { SourceError } from './sources.js';

export const DEFAULT_RANGE = '1h';

export interface WindowOptions {
  /** Where the Prometheus HTTP API is served. */
  readonly url: URL;
  /** The label matcher the series must match, as given; '' for every poolscope series. */
  readonly selector: string;
  /** The window's length as given (`5m`), and in seconds. */
  readonly range: string;
  readonly rangeSeconds: number;
  /** The window's end, unix seconds. */
  readonly at: number;
}

export interface WindowFigures {
  readonly figures: Figures;
  /** By the keys of `figures.origins`. */
  readonly throughputs: Map<string, Throughput>;
  /** What the API warned of, once each. */
  readonly warnings: string[];
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_536_000 };

/** Seconds in a PromQL duration (`90s`, `5m`, `1h30m`) or a number of seconds; undefined if it is neither. */
export function parseRange(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  if (!/^(\d+(ms|s|m|h|d|w|y))+$/.test(trimmed)) return undefined;
  let seconds = 0;
  for (const [, count, unit] of trimmed.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) seconds += Number(count) * DURATION_UNITS[unit!]!;
  return seconds;
}

/** Unix seconds from unix seconds or an RFC 3339 time (`2026-05-04T10:00:00Z`); undefined if it is neither. */
export function parseAt(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  if (!/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(trimmed)) return undefined;
  const ms = Date.parse(trimmed.replace(' ', 'T'));
  return Number.isNaN(ms) ? undefined : ms / 1000;
}

/**
 * The matchers inside the braces of `--selector` (`{job="api"}`, or `job="api"` alone), with
 * the one every poolscope series carries; undefined for a selector with a metric name. The rest
 * is Prometheus' to judge: VictoriaMetrics reads more than PromQL does.
 */
export function matchersOf(selector: string): string | undefined {
  let inner = selector.trim();
  if (inner.startsWith('{')) {
    if (!inner.endsWith('}')) return undefined;
    inner = inner.slice(1, -1).trim();
  } else if (inner.endsWith('}')) {
    return undefined;
  }
  inner = inner.replace(/,\s*$/, '');
  return `${inner}${inner === '' ? '' : ', '}${LABEL.poolType}!=""`;
}

/** A PromQL range of whole seconds where it can be. */
function promDuration(seconds: number): string {
  return Number.isInteger(seconds) ? `${seconds}s` : `${Math.max(1, Math.round(seconds * 1000))}ms`;
}

/** What an origin's series are added up by: the origin and its pool type. */
const BY_ORIGIN = [LABEL.scheme, LABEL.address, LABEL.port, LABEL.poolType];

/** One query: the samples it gives are read as samples of the series `name`. */
export interface WindowQuery {
  readonly name: string;
  readonly expr: string;
}

/**
 * The PromQL for each figure. Peaks are a subquery, one step in a thousand of the window (at
 * least a second): the instances are added up at each step before the maximum is taken, so an
 * instance replaced within the window (a redeploy) is not counted twice.
 */
export function windowQueries(matchers: string, rangeSeconds: number): { figures: WindowQuery[]; rate: string } {
  const range = promDuration(rangeSeconds);
  const step = promDuration(Math.max(1, Math.ceil(rangeSeconds / 1000)));
  const select = (name: string) => `${name}{${matchers}}`;
  const sumBy = (extra: readonly string[], expr: string) => `sum by (${[...BY_ORIGIN, ...extra].join(', ')}) (${expr})`;
  const increase = (key: SeriesKey, extra: readonly string[] = [], part = '') =>
    ({ name: SERIES[key] + part, expr: sumBy(extra, `increase(${select(SERIES[key] + part)}[${range}])`) });
  const most = (key: SeriesKey) => ({ name: SERIES[key], expr: `max_over_time((${sumBy([], select(SERIES[key]))})[${range}:${step}])` });
  const histogram = (key: SeriesKey, extra: readonly string[] = []) => [increase(key, ['le', ...extra], '_bucket'), increase(key, extra, '_sum')];
  return {
    figures: [
      increase('requests', [LABEL.reused]),
      increase('connectionsOpened', [LABEL.protocol]),
      increase('connectionErrors', [LABEL.errorType]),
      increase('savedTime'),
      increase('connectionsReopened'),
      increase('poolsCreated'),
      { name: SERIES.activeRequests, expr: sumBy([], select(SERIES.activeRequests)) },
      most('activeRequestsPeak'),
      most('openConnections'),
      most('pools'),
      { name: SERIES.streamsPeak, expr: `max by (${BY_ORIGIN.join(', ')}) (max_over_time(${select(SERIES.streamsPeak)}[${range}]))` },
      ...histogram('setupDuration'),
      ...histogram('timeInQueue'),
      ...histogram('timeToFirstByte', [LABEL.reused]),
      ...histogram('idleTime'),
      ...histogram('reopenedAfter'),
      ...histogram('connectionRequests'),
    ],
    rate: sumBy([], `rate(${select(SERIES.requests)}[${range}])`),
  };
}

/**
 * Buckets as `histogram_quantile` takes them: each bucket's `increase()` is extrapolated on
 * its own, so a lower bound may come out a hair above a higher one; and the count is the
 * `+Inf` bucket's (the `_count` series holds the same samples).
 */
function settle(histogram: Histogram): void {
  let most = 0;
  for (const bound of [...histogram.buckets.keys()].sort((a, b) => a - b)) {
    most = Math.max(most, histogram.buckets.get(bound)!);
    histogram.buckets.set(bound, most);
  }
  histogram.count = histogram.buckets.get(Infinity) ?? 0;
}

/** To a tenth: `increase()` extrapolates to the window's edges, so its counts are fractions, no more precise than that. */
function tenth(value: number): number {
  return Math.round(value * 10) / 10;
}

/** The counts the report and its findings print, to a tenth. */
function roundCounts(origin: OriginFigures): void {
  origin.requestsNew = tenth(origin.requestsNew);
  origin.requestsReused = tenth(origin.requestsReused);
  origin.connectionsOpened = tenth(origin.connectionsOpened);
  origin.connectionsReopened = tenth(origin.connectionsReopened);
  origin.poolsCreated = tenth(origin.poolsCreated);
  for (const counts of [origin.openedByProtocol, origin.connectionErrors]) {
    for (const [label, value] of counts) counts.set(label, tenth(value));
  }
}

/** The figures of every origin the selector's series name, over the window. */
export async function readWindow(window: WindowOptions, headers: Readonly<Record<string, string>>): Promise<WindowFigures> {
  const matchers = matchersOf(window.selector);
  if (matchers === undefined) throw new SourceError(`--selector ${window.selector} is not a label matcher such as {job="api"}`);
  const queries = windowQueries(matchers, window.rangeSeconds);
  const api = new PrometheusApi(window.url, headers, window.selector);
  try {
    const run = (expr: string) => () => api.query(expr, window.at);
    const [rates, ...answers] = await inTurns([run(queries.rate), ...queries.figures.map((query) => run(query.expr))], QUERY_CONCURRENCY);
    const samples: Sample[] = answers.flatMap((vector, i) =>
      vector.map((series) => ({ name: queries.figures[i]!.name, labels: series.metric, value: series.value })));
    const figures = collectFigures([samples], { byPoolType: true });
    if (figures.origins.size === 0) {
      throw new SourceError(`no poolscope series ${window.selector === '' ? '' : `match ${window.selector} `}in ${shownUrl(window.url)} ` +
        `over the ${window.range} to ${new Date(window.at * 1000).toISOString()}: check --selector, --range and --at ` +
        '(poolscope\'s series are poolscope_client_* and http_client_*, each with a poolscope_pool_type label)');
    }
    const perSecond = new Map<string, number>();
    for (const series of rates!) {
      const origin = originOf(series.metric);
      if (origin !== undefined && Number.isFinite(series.value)) perSecond.set(figuresKey(origin, poolTypeOf(series.metric)), series.value);
    }
    const throughputs = new Map<string, Throughput>();
    for (const [key, origin] of figures.origins) {
      roundCounts(origin);
      for (const histogram of [origin.setupDuration, origin.timeInQueue, origin.timeToFirstByteNew, origin.timeToFirstByteReused,
        origin.idleTime, origin.reopenedAfter, origin.connectionRequests]) settle(histogram);
      throughputs.set(key, {
        seconds: window.rangeSeconds,
        requestsPerSecond: perSecond.get(key) ?? 0,
        meanQueueSeconds: mean(origin.timeInQueue),
      });
    }
    return { figures, throughputs, warnings: [...api.warnings] };
  } finally {
    api.close();
  }
}
