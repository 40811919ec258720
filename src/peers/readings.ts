import { performance } from 'node:perf_hooks';
import {
  ATTR_POOL_TYPE, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT, ATTR_URL_SCHEME, METRICS, OTHER_ORIGIN, type MetricKey,
} from '../metrics/catalog.js';
import { forEachOriginInTurns, readHistograms, readValues } from '../metrics/readings.js';
import { Turns } from '../turns.js';
import type { OriginSource } from '../state/origin-registries.js';
import type { Attributes, OriginStats } from '../state/origin-stats.js';
import type { Consumer } from '../state/peaks.js';

/** One counter or gauge value. `weight`: the requests a ratio was taken over, to merge ratios. */
export interface ValueReading {
  readonly metric: MetricKey;
  readonly attributes: Attributes;
  readonly value: number;
  readonly weight: number;
}

/** One histogram with at least one sample, so `min` and `max` are finite and survive JSON. */
export interface HistogramReading {
  readonly metric: MetricKey;
  readonly attributes: Attributes;
  readonly counts: readonly number[];
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
}

/**
 * Every figure of one thread at one collection, as plain data: what a worker thread or a
 * cluster worker hands to the thread that exports, through structured clone or JSON.
 */
export interface Readings {
  readonly values: ValueReading[];
  readonly histograms: HistogramReading[];
}

/**
 * One thread's readings as a worker thread sends them to its main thread: the numbers in two
 * typed arrays, each attribute set once. Structured clone copies a typed array or a string
 * whole, where it rebuilds objects one by one in the receiving thread's task: 100 origins'
 * readings as objects took ~2.3 ms there, packed ~0.4 ms. Every thread receives the others'
 * answers, as a BroadcastChannel delivers to all.
 */
export interface PackedReadings {
  /** Metric keys, by index. */
  readonly metrics: readonly string[];
  /** The attribute sets, by index, as JSON. */
  readonly sets: string;
  /** Per value, VALUE_FIELDS numbers: metric index, set index, value, weight. */
  readonly values: Float64Array;
  /**
   * Per histogram, HISTOGRAM_FIELDS numbers (metric index, set index, count, sum, min, max, number
   * of buckets), then each bucket's count.
   */
  readonly histograms: Float64Array;
}

/**
 * Packed readings as received and checked (`receivePacked()`): metric names resolved to this
 * version's metrics (undefined for one it does not know), attribute sets parsed.
 */
export interface ReceivedReadings {
  readonly metrics: readonly (MetricKey | undefined)[];
  readonly sets: readonly Attributes[];
  readonly values: Float64Array;
  readonly histograms: Float64Array;
}

/** What a peer answers with: readings as objects (cluster workers, over JSON) or packed (worker threads). */
export type PeerReadings = Readings | ReceivedReadings;

const VALUE_FIELDS = 4;
const HISTOGRAM_FIELDS = 7;
/**
 * Bounds on what a packed message may hold, far above what any version of poolscope sends (~20
 * metrics, ~20 buckets): anything can post on the channel, and its readings are read in the
 * thread that exports, at every collection.
 */
const MAX_PACKED_METRICS = 256;
const MAX_PACKED_BUCKETS = 256;

function isReceived(readings: PeerReadings): readings is ReceivedReadings {
  return readings.values instanceof Float64Array;
}

/**
 * Checks packed readings once, as they arrive: the whole message, or undefined when any part of
 * it is not what `packReadings()` makes, so that reading it later can neither throw nor loop.
 * Metrics this version does not know (a newer copy of poolscope) are kept as undefined, and
 * their readings skipped.
 */
export function receivePacked(packed: unknown): ReceivedReadings | undefined {
  if (typeof packed !== 'object' || packed === null) return undefined;
  const { metrics, sets, values, histograms } = packed as Partial<Record<keyof PackedReadings, unknown>>;
  if (!Array.isArray(metrics) || metrics.length > MAX_PACKED_METRICS || typeof sets !== 'string') return undefined;
  if (!(values instanceof Float64Array) || values.length % VALUE_FIELDS !== 0 || !(histograms instanceof Float64Array)) return undefined;
  for (let at = 0; at < histograms.length;) {
    const buckets = histograms[at + HISTOGRAM_FIELDS - 1]!;
    const next = at + HISTOGRAM_FIELDS + buckets;
    if (!Number.isInteger(buckets) || buckets < 0 || buckets > MAX_PACKED_BUCKETS || next > histograms.length) return undefined;
    at = next;
  }
  const known: (MetricKey | undefined)[] = [];
  for (let i = 0; i < metrics.length; i++) {
    const name: unknown = metrics[i];
    if (typeof name !== 'string') return undefined;
    known.push(Object.hasOwn(METRICS, name) ? name as MetricKey : undefined);
  }
  const parsed = attributeSets(sets);
  return parsed === undefined ? undefined : { metrics: known, sets: parsed, values, histograms };
}

/** The attribute sets of packed readings, or undefined unless each is an object of strings, numbers and booleans. */
function attributeSets(json: string): Attributes[] | undefined {
  let sets: unknown;
  try {
    sets = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!Array.isArray(sets)) return undefined;
  for (const set of sets as unknown[]) {
    if (typeof set !== 'object' || set === null || Array.isArray(set)) return undefined;
    for (const value of Object.values(set)) {
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return undefined;
    }
  }
  return sets as Attributes[];
}

export function packReadings({ values, histograms }: Readings): PackedReadings {
  const metrics = new Indexed<MetricKey>();
  const sets = new Indexed<Attributes>();
  const packedValues = new Float64Array(values.length * VALUE_FIELDS);
  for (let i = 0, at = 0; i < values.length; i++, at += VALUE_FIELDS) {
    const { metric, attributes, value, weight } = values[i]!;
    packedValues[at] = metrics.of(metric);
    packedValues[at + 1] = sets.of(attributes);
    packedValues[at + 2] = value;
    packedValues[at + 3] = weight;
  }
  let length = 0;
  for (let i = 0; i < histograms.length; i++) length += HISTOGRAM_FIELDS + histograms[i]!.counts.length;
  const packedHistograms = new Float64Array(length);
  let at = 0;
  for (let i = 0; i < histograms.length; i++) {
    const { metric, attributes, counts, count, sum, min, max } = histograms[i]!;
    packedHistograms[at++] = metrics.of(metric);
    packedHistograms[at++] = sets.of(attributes);
    packedHistograms[at++] = count;
    packedHistograms[at++] = sum;
    packedHistograms[at++] = min;
    packedHistograms[at++] = max;
    packedHistograms[at++] = counts.length;
    for (let j = 0; j < counts.length; j++) packedHistograms[at++] = counts[j]!;
  }
  return { metrics: metrics.items, sets: JSON.stringify(sets.items), values: packedValues, histograms: packedHistograms };
}

/** A peer's readings as objects, all at once (packed ones unpacked): for a peer that ended, whose readings are kept. */
export function unpackReadings(readings: PeerReadings): Readings {
  if (!isReceived(readings)) return readings;
  const { values, histograms } = readingsIn(readings);
  return { values: [...values].filter((reading) => reading !== undefined), histograms: [...histograms].filter((reading) => reading !== undefined) };
}

/** What a peer answered, one reading at a time: packed readings read as they are consumed. */
function readingsIn(readings: PeerReadings): { values: Iterable<ValueReading | undefined>; histograms: Iterable<HistogramReading | undefined> } {
  return isReceived(readings) ? { values: packedValues(readings), histograms: packedHistograms(readings) } : readings;
}

/**
 * Received readings one at a time, as they are consumed; undefined in place of one that is
 * skipped (a metric this version does not know, a set index out of range), so that skipped
 * readings count toward a turn too.
 */
function* packedValues({ metrics, sets, values }: ReceivedReadings): Generator<ValueReading | undefined> {
  for (let at = 0; at < values.length; at += VALUE_FIELDS) {
    const metric = metrics[values[at]!];
    const attributes = sets[values[at + 1]!];
    yield metric === undefined || attributes === undefined ? undefined : { metric, attributes, value: values[at + 2]!, weight: values[at + 3]! };
  }
}

function* packedHistograms({ metrics, sets, histograms }: ReceivedReadings): Generator<HistogramReading | undefined> {
  for (let at = 0; at < histograms.length;) {
    const metric = metrics[histograms[at]!];
    const attributes = sets[histograms[at + 1]!];
    const counts = histograms.subarray(at + HISTOGRAM_FIELDS, at + HISTOGRAM_FIELDS + histograms[at + HISTOGRAM_FIELDS - 1]!);
    yield metric === undefined || attributes === undefined ? undefined : {
      metric, attributes, counts: plainCopy(counts), count: histograms[at + 2]!, sum: histograms[at + 3]!, min: histograms[at + 4]!, max: histograms[at + 5]!,
    };
    at += HISTOGRAM_FIELDS + counts.length;
  }
}

/** Numbers for the distinct items met, in the order met. */
class Indexed<T> {
  readonly items: T[] = [];
  readonly #index = new Map<T, number>();

  of(item: T): number {
    let index = this.#index.get(item);
    if (index === undefined) {
      index = this.items.length;
      this.items.push(item);
      this.#index.set(item, index);
    }
    return index;
  }
}

/**
 * One thread's readings for `consumer` (see `readValues()`), in one task: what a worker thread
 * answers its main thread with, and its last readings, sent from its `exit` event.
 */
export function readingsOf(origins: OriginSource, nowMs: number, consumer: Consumer | undefined): Readings {
  const readings: Readings = { values: [], histograms: [] };
  for (const origin of origins.all()) readOrigin(readings, origin, nowMs, consumer);
  return readings;
}

/** The same, the event loop running between every few origins (see `forEachOriginInTurns()`). */
export async function readingsInTurns(origins: OriginSource, consumer: Consumer | undefined): Promise<Readings> {
  const readings: Readings = { values: [], histograms: [] };
  const nowMs = performance.now();
  await forEachOriginInTurns(origins, (origin) => readOrigin(readings, origin, nowMs, consumer));
  return readings;
}

function readOrigin({ values, histograms }: Readings, origin: OriginStats, nowMs: number, consumer: Consumer | undefined): void {
  readValues(origin, nowMs, consumer, (metric, value, attributes, weight = 0) => values.push({ metric, attributes, value, weight }));
  readHistograms(origin, (metric, histogram, attributes) => {
    // A histogram appears from its first sample on, as an OpenTelemetry instrument's attribute
    // set does: the DNS phase of an IP origin or the TLS phase of plain http never has one, and
    // ~20 empty series per histogram would be a quarter of a scrape.
    if (histogram.count === 0) return;
    histograms.push({
      metric, attributes, counts: plainCopy(histogram.counts), count: histogram.count, sum: histogram.sum,
      min: histogram.min, max: histogram.max,
    });
  });
}

/**
 * A plain array, as structured clone and JSON carry it. `Array.from()` walks a typed array
 * through its iterator, 10x slower: at 1,000 origins, three quarters of the time the readings took.
 */
function plainCopy(counts: Float64Array): number[] {
  const copy = new Array<number>(counts.length);
  for (let i = 0; i < counts.length; i++) copy[i] = counts[i]!;
  return copy;
}

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
interface MergedHistogram { metric: MetricKey; attributes: Attributes; counts: number[]; count: number; sum: number; min: number; max: number }

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
      const merged = { ...reading, attributes: set.attributes, counts: [...reading.counts] };
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
