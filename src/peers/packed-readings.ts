import { METRICS, type MetricKey } from '../metrics/catalog.js';
import { isExponentialReading, MAX_BUCKETS as MAX_EXPONENTIAL_BUCKETS, type ExponentialReading } from '../state/exponential-histogram.js';
import type { Attributes } from '../state/origin-stats.js';
import { plainCopy, type HistogramReading, type Readings, type ValueReading } from './readings.js';

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
  /**
   * Per histogram that has exponential buckets, EXPONENTIAL_FIELDS numbers (its position among the
   * histograms, scale, zero count, offset, number of buckets), then each bucket's count. A field
   * of its own: a copy of poolscope that does not know it reads the rest as before.
   */
  readonly exponential?: Float64Array;
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
  readonly exponential: Float64Array | undefined;
}

/** What a peer answers with: readings as objects (cluster workers, over JSON) or packed (worker threads). */
export type PeerReadings = Readings | ReceivedReadings;

const VALUE_FIELDS = 4;
const HISTOGRAM_FIELDS = 7;
const EXPONENTIAL_FIELDS = 5;
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
  const { metrics, sets, values, histograms, exponential } = packed as Partial<Record<keyof PackedReadings, unknown>>;
  if (!Array.isArray(metrics) || metrics.length > MAX_PACKED_METRICS || typeof sets !== 'string') return undefined;
  if (!(values instanceof Float64Array) || values.length % VALUE_FIELDS !== 0 || !(histograms instanceof Float64Array)) return undefined;
  const starts: number[] = [];
  for (let at = 0; at < histograms.length;) {
    const buckets = histograms[at + HISTOGRAM_FIELDS - 1]!;
    const next = at + HISTOGRAM_FIELDS + buckets;
    if (!Number.isInteger(buckets) || buckets < 0 || buckets > MAX_PACKED_BUCKETS || next > histograms.length) return undefined;
    starts.push(at);
    at = next;
  }
  if (exponential !== undefined && !(exponential instanceof Float64Array && validExponential(exponential, histograms, starts))) return undefined;
  const known: (MetricKey | undefined)[] = [];
  for (let i = 0; i < metrics.length; i++) {
    const name: unknown = metrics[i];
    if (typeof name !== 'string') return undefined;
    known.push(Object.hasOwn(METRICS, name) ? name as MetricKey : undefined);
  }
  const parsed = attributeSets(sets);
  return parsed === undefined ? undefined : { metrics: known, sets: parsed, values, histograms, exponential };
}

/**
 * Whether packed exponential buckets are each for a histogram of the message, in order, at most
 * one each, and what `ExponentialBuckets.reading()` makes (see `isExponentialReading()`).
 */
function validExponential(exponential: Float64Array, histograms: Float64Array, starts: readonly number[]): boolean {
  let previous = -1;
  for (let at = 0; at < exponential.length;) {
    const [position, scale, zeroCount, offset, buckets] = exponential.subarray(at, at + EXPONENTIAL_FIELDS);
    const next = at + EXPONENTIAL_FIELDS + buckets!;
    if (!Number.isInteger(position) || position! <= previous || position! >= starts.length) return false;
    if (!Number.isInteger(buckets) || buckets! < 0 || buckets! > MAX_EXPONENTIAL_BUCKETS || next > exponential.length) return false;
    const count = histograms[starts[position!]! + 2]!;
    if (!isExponentialReading(scale!, zeroCount!, offset!, exponential.subarray(at + EXPONENTIAL_FIELDS, next), count)) return false;
    previous = position!;
    at = next;
  }
  return true;
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
  const packed = { metrics: metrics.items, sets: JSON.stringify(sets.items), values: packedValues, histograms: packedHistograms };
  const exponential = packExponential(histograms);
  return exponential === undefined ? packed : { ...packed, exponential };
}

function packExponential(histograms: readonly HistogramReading[]): Float64Array | undefined {
  let length = 0;
  for (let i = 0; i < histograms.length; i++) {
    const buckets = histograms[i]!.exponential;
    if (buckets !== undefined) length += EXPONENTIAL_FIELDS + buckets.counts.length;
  }
  if (length === 0) return undefined;
  const packed = new Float64Array(length);
  let at = 0;
  for (let i = 0; i < histograms.length; i++) {
    const buckets = histograms[i]!.exponential;
    if (buckets === undefined) continue;
    packed.set([i, buckets.scale, buckets.zeroCount, buckets.offset, buckets.counts.length], at);
    packed.set(buckets.counts, at + EXPONENTIAL_FIELDS);
    at += EXPONENTIAL_FIELDS + buckets.counts.length;
  }
  return packed;
}

/** A peer's readings as objects, all at once (packed ones unpacked): for a peer that ended, whose readings are kept. */
export function unpackReadings(readings: PeerReadings): Readings {
  if (!isReceived(readings)) return readings;
  const { values, histograms } = readingsIn(readings);
  return { values: [...values].filter((reading) => reading !== undefined), histograms: [...histograms].filter((reading) => reading !== undefined) };
}

/** What a peer answered, one reading at a time: packed readings read as they are consumed. */
export function readingsIn(readings: PeerReadings): { values: Iterable<ValueReading | undefined>; histograms: Iterable<HistogramReading | undefined> } {
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

function* packedHistograms({ metrics, sets, histograms, exponential }: ReceivedReadings): Generator<HistogramReading | undefined> {
  let exponentialAt = 0;
  for (let at = 0, position = 0; at < histograms.length; position++) {
    const metric = metrics[histograms[at]!];
    const attributes = sets[histograms[at + 1]!];
    const counts = histograms.subarray(at + HISTOGRAM_FIELDS, at + HISTOGRAM_FIELDS + histograms[at + HISTOGRAM_FIELDS - 1]!);
    let buckets: ExponentialReading | undefined;
    // Checked on receipt: in order, at most one per histogram.
    if (exponential !== undefined && exponential[exponentialAt] === position) {
      const end = exponentialAt + EXPONENTIAL_FIELDS + exponential[exponentialAt + 4]!;
      buckets = {
        scale: exponential[exponentialAt + 1]!, zeroCount: exponential[exponentialAt + 2]!, offset: exponential[exponentialAt + 3]!,
        counts: plainCopy(exponential.subarray(exponentialAt + EXPONENTIAL_FIELDS, end)),
      };
      exponentialAt = end;
    }
    if (metric === undefined || attributes === undefined) {
      yield undefined;
    } else {
      const reading = {
        metric, attributes, counts: plainCopy(counts), count: histograms[at + 2]!, sum: histograms[at + 3]!, min: histograms[at + 4]!, max: histograms[at + 5]!,
      };
      yield buckets === undefined ? reading : { ...reading, exponential: buckets };
    }
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
