import {
  ATTR_POOL_TYPE, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT, ATTR_URL_SCHEME, METRICS, OTHER_ORIGIN, type MetricKey,
} from '../metrics/catalog.js';
import { addExponential, isExponentialReading, type ExponentialReading } from '../state/exponential-histogram.js';
import type { Attributes } from '../state/origin-stats.js';
import { Turns } from '../turns.js';
import { readingsIn, type PeerReadings } from './packed-readings.js';
import type { HistogramReading, Readings, ValueReading } from './readings.js';

/** Gauges whose merge is the largest value: the most streams on any one socket. */
const MERGED_BY_MAX: ReadonlySet<MetricKey> = new Set(['streamsPeak']);
/** Gauges merged as a ratio, weighted by the requests each was taken over. */
const MERGED_AS_RATIO: ReadonlySet<MetricKey> = new Set(['reuseRatio']);
const ORIGIN_KEYS: ReadonlySet<string> = new Set([ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT, ATTR_URL_SCHEME]);

/**
 * Readings of other threads added in one turn of the event loop, ~1 ms of work here
 * (bench/scrape.mjs --threads): the sum of 100 origins from each of four threads held the event
 * loop ~20 ms in one task.
 */
export const READINGS_PER_TURN = 1_024;

/**
 * Adds up the readings of several threads or processes: counters, up-down counters, histograms
 * and most gauges add; `streams.peak` takes the largest, `reuse_ratio` the ratio over all their
 * requests. The first `maxOrigins` origins of each pool type met keep their own series, the rest
 * fold into `_other`, as within one thread. (`active_requests.peak` adds each one's peak: an upper bound.)
 */
export function mergeReadings(all: readonly Readings[], maxOrigins: number): Readings {
  const sum = new ReadingsSum(maxOrigins);
  for (const { values, histograms } of all) {
    for (let i = 0; i < values.length; i++) sum.addValue(values[i]!);
    for (let i = 0; i < histograms.length; i++) sum.addHistogram(histograms[i]!);
  }
  return sum.readings();
}

/** The same, the event loop running between every READINGS_PER_TURN readings; packed ones are read as they are added. */
export async function mergeReadingsInTurns(all: readonly PeerReadings[], maxOrigins: number): Promise<Readings> {
  const sum = new ReadingsSum(maxOrigins);
  const turns = new Turns(READINGS_PER_TURN);
  for (const readings of all) {
    const { values, histograms } = readingsIn(readings);
    await turns.forEach(values, sum.addValue);
    await turns.forEach(histograms, sum.addHistogram);
  }
  return sum.readings();
}

interface MergedValue { metric: MetricKey; attributes: Attributes; value: number; weight: number }
interface MergedHistogram {
  metric: MetricKey; attributes: Attributes; counts: number[]; count: number; sum: number; min: number; max: number;
  exponential?: ExponentialReading;
}

/** The merged series of one attribute set, by metric. */
interface SeriesSet {
  readonly attributes: Attributes;
  readonly values: Map<MetricKey, MergedValue>;
  readonly histograms: Map<MetricKey, MergedHistogram>;
}

class ReadingsSum {
  readonly #maxOrigins: number;
  /** The origins that keep their own series, as `scheme://host:port`, per pool type. */
  readonly #origins = new Map<string, Set<string>>();
  /** Attribute sets by what tells them apart (see `setKey()`), folded ones under `_other`'s. */
  readonly #sets = new Map<string, SeriesSet>();
  /**
   * The set of each attribute object met. A thread's readings share one object per attribute set
   * (structured clone keeps them shared), so most readings find theirs by identity, and the
   * string key is built once per set, not per reading: built per reading, it was most of a merge.
   */
  readonly #setOfObject = new Map<Attributes, SeriesSet>();
  /** In the order first met, as within one thread's readings. */
  readonly #values: MergedValue[] = [];
  readonly #histograms: MergedHistogram[] = [];

  constructor(maxOrigins: number) {
    this.#maxOrigins = maxOrigins;
  }

  /** Adds one reading; undefined stands for one skipped in packed readings. */
  readonly addValue = (reading: ValueReading | undefined): void => {
    if (reading === undefined) return;
    const set = this.#setOf(reading.attributes);
    const known = set.values.get(reading.metric);
    if (known === undefined) {
      const merged = { metric: reading.metric, attributes: set.attributes, value: reading.value, weight: reading.weight };
      set.values.set(reading.metric, merged);
      this.#values.push(merged);
    } else if (MERGED_BY_MAX.has(reading.metric)) {
      known.value = Math.max(known.value, reading.value);
    } else if (MERGED_AS_RATIO.has(reading.metric)) {
      const weight = known.weight + reading.weight;
      known.value = weight === 0 ? 0 : (known.value * known.weight + reading.value * reading.weight) / weight;
      known.weight = weight;
    } else {
      known.value += reading.value;
    }
  };

  readonly addHistogram = (reading: HistogramReading | undefined): void => {
    if (reading === undefined) return;
    const set = this.#setOf(reading.attributes);
    const known = set.histograms.get(reading.metric);
    if (known === undefined) {
      const merged: MergedHistogram = { ...reading, attributes: set.attributes, counts: [...reading.counts] };
      if (!hasExponential(reading)) delete merged.exponential;
      set.histograms.set(reading.metric, merged);
      this.#histograms.push(merged);
      return;
    }
    if (reading.count > 0) {
      known.min = known.count === 0 ? reading.min : Math.min(known.min, reading.min);
      known.max = known.count === 0 ? reading.max : Math.max(known.max, reading.max);
    }
    for (let i = 0; i < known.counts.length; i++) known.counts[i]! += reading.counts[i] ?? 0;
    known.count += reading.count;
    known.sum += reading.sum;
    // Exponential buckets only where every part has them: a series is sent one way or the other.
    if (known.exponential === undefined) return;
    if (hasExponential(reading)) known.exponential = addExponential(known.exponential, reading.exponential);
    else delete known.exponential;
  };

  readings(): Readings {
    return { values: this.#values, histograms: this.#histograms };
  }

  #setOf(attributes: Attributes): SeriesSet {
    let set = this.#setOfObject.get(attributes);
    if (set !== undefined) return set;
    const folded = this.#fold(attributes);
    const key = setKey(folded);
    set = this.#sets.get(key);
    if (set === undefined) {
      set = { attributes: folded, values: new Map(), histograms: new Map() };
      this.#sets.set(key, set);
    }
    this.#setOfObject.set(attributes, set);
    return set;
  }

  /**
   * `attributes`, or the same with the origin folded into `_other` once `maxOrigins` others of its
   * pool type were met: as within one thread, where each pool type has a registry of its own.
   */
  #fold(attributes: Attributes): Attributes {
    const address = attributes[ATTR_SERVER_ADDRESS];
    if (address === OTHER_ORIGIN) return attributes;
    const poolType = String(attributes[ATTR_POOL_TYPE]);
    let origins = this.#origins.get(poolType);
    if (origins === undefined) this.#origins.set(poolType, origins = new Set());
    const origin = `${String(attributes[ATTR_URL_SCHEME])}://${String(address)}:${String(attributes[ATTR_SERVER_PORT])}`;
    if (origins.has(origin)) return attributes;
    if (origins.size < this.#maxOrigins) {
      origins.add(origin);
      return attributes;
    }
    const folded: Record<string, string | number | boolean> = { [ATTR_SERVER_ADDRESS]: OTHER_ORIGIN };
    for (const [key, value] of Object.entries(attributes)) if (!ORIGIN_KEYS.has(key)) folded[key] = value;
    return folded;
  }
}

/** Whether a reading has exponential buckets fit to add: a cluster worker's arrive unchecked, over JSON. */
function hasExponential(reading: HistogramReading): reading is HistogramReading & { exponential: ExponentialReading } {
  const buckets = reading.exponential as Partial<ExponentialReading> | null | undefined;
  return typeof buckets === 'object' && buckets !== null && Array.isArray(buckets.counts) &&
    isExponentialReading(buckets.scale as number, buckets.zeroCount as number, buckets.offset as number, buckets.counts, reading.count);
}

/**
 * What a thread or process that ended still contributes: its counters and histograms, and 0 for
 * its gauges (it holds no request and no socket now), so an origin only it called keeps its
 * series rather than losing them. Its reuse ratio, over no request, goes.
 */
export function atRest(readings: Readings): Readings {
  const values: ValueReading[] = [];
  for (const reading of readings.values) {
    if (MERGED_AS_RATIO.has(reading.metric)) continue;
    values.push(METRICS[reading.metric].instrument === 'Counter' ? reading : { ...reading, value: 0, weight: 0 });
  }
  return { values, histograms: readings.histograms };
}

/**
 * What tells one attribute set from another: its names, sorted, and its values with their
 * types (a port is a number). Built once per attribute set met, not per reading.
 */
function setKey(attributes: Attributes): string {
  let key = '';
  for (const name of Object.keys(attributes).sort()) {
    const value = attributes[name];
    key += `${name}\0${typeof value}\0${String(value)}\0`;
  }
  return key;
}
