import type { Sample } from './exposition.js';
import { OTHER_ORIGIN } from '../../metrics/catalog.js';
import { LABEL, SERIES, type SeriesKey } from './series.js';

/** A Prometheus histogram: cumulative counts per upper bound (`le`), with its sum and count. */
export interface Histogram {
  readonly buckets: Map<number, number>;
  sum: number;
  count: number;
}

/** One origin's figures, added up over every source (instance) that reports it. */
export interface OriginFigures {
  readonly origin: string;
  /** `poolscope_pool_type` when the figures keep pool types apart (and the series carry it); null when they add them up. */
  readonly poolType: string | null;
  requestsNew: number;
  requestsReused: number;
  activeRequests: number;
  activeRequestsPeak: number;
  connectionsOpened: number;
  /** Connections opened per `network.protocol.version`. */
  readonly openedByProtocol: Map<string, number>;
  openConnections: number;
  readonly connectionErrors: Map<string, number>;
  savedSeconds: number;
  connectionsReopened: number;
  streamsPeak: number;
  pools: number;
  poolsCreated: number;
  readonly setupDuration: Histogram;
  readonly timeInQueue: Histogram;
  readonly timeToFirstByteNew: Histogram;
  readonly timeToFirstByteReused: Histogram;
  readonly idleTime: Histogram;
  /** The gaps that closed the connections reopened after them. */
  readonly reopenedAfter: Histogram;
  readonly connectionRequests: Histogram;
}

/** Every origin's figures, and which of the contract's series the sources carried at all. */
export interface Figures {
  /** By origin, or by `figuresKey` when pool types are kept apart. */
  readonly origins: Map<string, OriginFigures>;
  /** Series present in at least one source: a rule that needs an absent one is not checked. */
  readonly present: Set<SeriesKey>;
}

const BY_NAME = new Map<string, SeriesKey>(Object.entries(SERIES).map(([key, name]) => [name, key as SeriesKey]));
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const;

function histogram(): Histogram {
  return { buckets: new Map(), sum: 0, count: 0 };
}

function emptyFigures(origin: string, poolType: string | null): OriginFigures {
  return {
    origin, poolType,
    requestsNew: 0, requestsReused: 0, activeRequests: 0, activeRequestsPeak: 0,
    connectionsOpened: 0, openedByProtocol: new Map(), openConnections: 0, connectionErrors: new Map(),
    savedSeconds: 0, connectionsReopened: 0, streamsPeak: 0, pools: 0, poolsCreated: 0,
    setupDuration: histogram(), timeInQueue: histogram(), timeToFirstByteNew: histogram(),
    timeToFirstByteReused: histogram(), idleTime: histogram(), reopenedAfter: histogram(), connectionRequests: histogram(),
  };
}

/** `scheme://host:port` from a series' labels, as the agent names the origin; undefined without one. */
export function originOf(labels: Readonly<Record<string, string>>): string | undefined {
  const address = labels[LABEL.address];
  if (address === undefined || address === '') return undefined;
  if (address === OTHER_ORIGIN) return OTHER_ORIGIN;
  const host = address.includes(':') ? `[${address}]` : address;
  return `${labels[LABEL.scheme] ?? 'http'}://${host}:${labels[LABEL.port] ?? ''}`;
}

/** A series' `poolscope_pool_type`; null for one without (an exposition older than the label). */
export function poolTypeOf(labels: Readonly<Record<string, string>>): string | null {
  const poolType = labels[LABEL.poolType];
  return poolType === undefined || poolType === '' ? null : poolType;
}

/** The key of an origin's figures in `Figures.origins`: the origin, and its pool type where kept apart. */
export function figuresKey(origin: string, poolType: string | null): string {
  return poolType === null ? origin : `${origin} (${poolType})`;
}

/** Which series a sample belongs to, and which part of a histogram it is. */
function identify(name: string): { key: SeriesKey; part: (typeof HISTOGRAM_SUFFIXES)[number] | undefined } | undefined {
  const key = BY_NAME.get(name);
  if (key !== undefined) return { key, part: undefined };
  for (const suffix of HISTOGRAM_SUFFIXES) {
    if (!name.endsWith(suffix)) continue;
    const base = BY_NAME.get(name.slice(0, -suffix.length));
    if (base !== undefined) return { key: base, part: suffix };
  }
  return undefined;
}

function addTo(map: Map<string, number>, key: string, value: number): void {
  map.set(key, (map.get(key) ?? 0) + value);
}

function addToHistogram(target: Histogram, part: string | undefined, sample: Sample): void {
  if (part === '_sum') target.sum += sample.value;
  else if (part === '_count') target.count += sample.value;
  else if (part === '_bucket') {
    const le = Number(sample.labels.le === '+Inf' ? Infinity : sample.labels.le);
    if (!Number.isNaN(le)) target.buckets.set(le, (target.buckets.get(le) ?? 0) + sample.value);
  }
}

/**
 * Adds up the samples of any number of expositions per origin. Sources are instances of one
 * service: their counters, histograms, gauges and peaks add up (the peak of two instances
 * together is at most the sum of their peaks). With `byPoolType`, an origin's undici and
 * http.Agent pools are figures of their own.
 */
export function collectFigures(expositions: readonly Sample[][], options: { byPoolType?: boolean } = {}): Figures {
  const origins = new Map<string, OriginFigures>();
  const present = new Set<SeriesKey>();
  for (const samples of expositions) {
    for (const sample of samples) {
      const series = identify(sample.name);
      if (series === undefined) continue;
      present.add(series.key);
      const origin = originOf(sample.labels);
      if (origin === undefined || !Number.isFinite(sample.value)) continue;
      const poolType = options.byPoolType ? poolTypeOf(sample.labels) : null;
      const key = figuresKey(origin, poolType);
      let figures = origins.get(key);
      if (figures === undefined) origins.set(key, figures = emptyFigures(origin, poolType));
      record(figures, series.key, series.part, sample);
    }
  }
  return { origins, present };
}

function record(figures: OriginFigures, key: SeriesKey, part: string | undefined, sample: Sample): void {
  const { value, labels } = sample;
  const reused = labels[LABEL.reused] === 'true';
  switch (key) {
    case 'requests':
      if (reused) figures.requestsReused += value;
      else figures.requestsNew += value;
      return;
    case 'activeRequests': figures.activeRequests += value; return;
    case 'activeRequestsPeak': figures.activeRequestsPeak += value; return;
    case 'connectionsOpened':
      figures.connectionsOpened += value;
      addTo(figures.openedByProtocol, labels[LABEL.protocol] ?? 'unknown', value);
      return;
    case 'openConnections': figures.openConnections += value; return;
    case 'connectionErrors': addTo(figures.connectionErrors, labels[LABEL.errorType] ?? 'unknown', value); return;
    case 'savedTime': figures.savedSeconds += value; return;
    case 'connectionsReopened': figures.connectionsReopened += value; return;
    case 'streamsPeak': figures.streamsPeak = Math.max(figures.streamsPeak, value); return;
    case 'pools': figures.pools += value; return;
    case 'poolsCreated': figures.poolsCreated += value; return;
    case 'timeToFirstByte':
      addToHistogram(reused ? figures.timeToFirstByteReused : figures.timeToFirstByteNew, part, sample);
      return;
    case 'setupDuration': addToHistogram(figures.setupDuration, part, sample); return;
    case 'timeInQueue': addToHistogram(figures.timeInQueue, part, sample); return;
    case 'idleTime': addToHistogram(figures.idleTime, part, sample); return;
    case 'reopenedAfter': addToHistogram(figures.reopenedAfter, part, sample); return;
    case 'connectionRequests': addToHistogram(figures.connectionRequests, part, sample); return;
  }
}

/**
 * The q-quantile as Prometheus' `histogram_quantile` computes it: linear within the bucket the
 * rank falls in, the highest finite bound when it falls in `+Inf`; null without samples.
 */
export function quantile(histogram: Histogram, q: number): number | null {
  const bounds = [...histogram.buckets.keys()].sort((a, b) => a - b);
  const total = histogram.buckets.get(Infinity) ?? histogram.count;
  // Without a finite bucket (POOLSCOPE_HISTOGRAMS=minimal) there is a mean, but no quantile.
  if (total <= 0 || !Number.isFinite(bounds[0] ?? Infinity)) return null;
  const rank = q * total;
  let previousBound = 0;
  let previousCount = 0;
  for (const bound of bounds) {
    const count = histogram.buckets.get(bound)!;
    if (count >= rank) {
      if (bound === Infinity) return previousBound;
      if (count === previousCount) return bound;
      return previousBound + (bound - previousBound) * ((rank - previousCount) / (count - previousCount));
    }
    previousBound = bound;
    previousCount = count;
  }
  return previousBound;
}

/** The mean of a histogram's samples; null without samples. */
export function mean(histogram: Histogram): number | null {
  return histogram.count > 0 ? histogram.sum / histogram.count : null;
}

export function requestsOf(figures: OriginFigures): number {
  return figures.requestsNew + figures.requestsReused;
}

export function reuseRateOf(figures: OriginFigures): number | null {
  const requests = requestsOf(figures);
  return requests > 0 ? figures.requestsReused / requests : null;
}
