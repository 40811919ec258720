/**
 * Base-2 exponential buckets, as OpenTelemetry's exponential histogram defines them: at scale s,
 * bucket i holds the values in (2^(i/2^s), 2^((i+1)/2^s)]. They start at the finest scale and
 * halve their resolution whenever a sample falls outside the buckets they may hold, so one data
 * point carries the full range at the best resolution it allows. The index function and the
 * defaults (scale 20, 160 buckets) are the OpenTelemetry JS SDK's, so the figures match what its
 * own aggregation makes of the same samples.
 */

export const MAX_SCALE = 20;
/** At scale -10 every double falls within 4 buckets: no range needs a coarser one. */
export const MIN_SCALE = -10;
export const MAX_BUCKETS = 160;

/** The exponential buckets of one histogram as readings carry them: the positive range only. */
export interface ExponentialReading {
  readonly scale: number;
  /** Samples of 0 (poolscope records durations and counts: no sample is below 0). */
  readonly zeroCount: number;
  /** The index of `counts[0]`. */
  readonly offset: number;
  readonly counts: readonly number[];
}

const MIN_NORMAL_EXPONENT = -1022;
const MIN_NORMAL = 2 ** MIN_NORMAL_EXPONENT;
const MAX_NORMAL_EXPONENT = 1023;
const SCALE_FACTORS = Array.from({ length: MAX_SCALE + 1 }, (_, scale) => Math.LOG2E * 2 ** scale);
const floatBits = new DataView(new ArrayBuffer(8));

/** The index of the bucket that holds `value` (above 0) at `scale`, exact at powers of two. */
export function bucketIndex(value: number, scale: number): number {
  floatBits.setFloat64(0, value);
  const high = floatBits.getUint32(0);
  const exponent = ((high & 0x7ff00000) >> 20) - 1023;
  const powerOfTwo = (high & 0xfffff) === 0 && floatBits.getUint32(4) === 0;
  if (scale <= 0) {
    const shift = -scale;
    if (value < MIN_NORMAL) return (MIN_NORMAL_EXPONENT >> shift) - (shift < 2 ? 1 : 0);
    return (exponent - (powerOfTwo ? 1 : 0)) >> shift;
  }
  if (value <= MIN_NORMAL) return (MIN_NORMAL_EXPONENT << scale) - 1;
  if (powerOfTwo) return (exponent << scale) - 1;
  const maxIndex = ((MAX_NORMAL_EXPONENT + 1) << scale) - 1;
  return Math.min(Math.floor(Math.log(value) * SCALE_FACTORS[scale]!), maxIndex);
}

/** How many times to halve the resolution so that indexes `low` to `high` fit in MAX_BUCKETS. */
function scaleChange(low: number, high: number): number {
  let change = 0;
  while (high - low >= MAX_BUCKETS) {
    high >>= 1;
    low >>= 1;
    change++;
  }
  return change;
}

const NO_BUCKETS = new Float64Array(0);

/**
 * The bucket counts of one histogram's samples; count, sum, min and max are the explicit
 * histogram's, which takes the same samples. The array grows as buckets are used, to
 * MAX_BUCKETS (1.3 kB) at most; counts past `length` are always 0.
 */
export class ExponentialBuckets {
  scale = MAX_SCALE;
  zeroCount = 0;
  /** The index of the first bucket in use. */
  offset = 0;
  /** Buckets in use, from `offset`. */
  length = 0;
  #counts = NO_BUCKETS;

  record(value: number): void {
    if (!(value > 0)) {
      this.zeroCount++;
      return;
    }
    let index = bucketIndex(value, this.scale);
    if (this.length > 0) {
      const change = scaleChange(Math.min(index, this.offset), Math.max(index, this.offset + this.length - 1));
      if (change > 0) {
        this.#downscale(change);
        index = bucketIndex(value, this.scale);
      }
    }
    this.#add(index, 1);
  }

  /** Adds another histogram's buckets, at the finer of the two scales that holds both ranges. */
  addReading(other: ExponentialReading): void {
    this.zeroCount += other.zeroCount;
    const { counts } = other;
    let first = 0;
    let last = counts.length - 1;
    while (first <= last && counts[first] === 0) first++;
    while (last >= first && counts[last] === 0) last--;
    if (first > last) return;
    let scale = this.length === 0 ? other.scale : Math.min(this.scale, other.scale);
    let low = (other.offset + first) >> (other.scale - scale);
    let high = (other.offset + last) >> (other.scale - scale);
    if (this.length > 0) {
      low = Math.min(low, this.offset >> (this.scale - scale));
      high = Math.max(high, (this.offset + this.length - 1) >> (this.scale - scale));
    }
    scale -= scaleChange(low, high);
    if (this.length === 0) this.scale = scale;
    else this.#downscale(this.scale - scale);
    const shift = other.scale - this.scale;
    for (let i = first; i <= last; i++) {
      if (counts[i] !== 0) this.#add((other.offset + i) >> shift, counts[i]!);
    }
  }

  /** As readings carry it; scale 0 while there is no sample above 0, as the SDK says it. */
  reading(): ExponentialReading {
    const counts = new Array<number>(this.length);
    for (let i = 0; i < this.length; i++) counts[i] = this.#counts[i]!;
    return { scale: this.length === 0 ? 0 : this.scale, zeroCount: this.zeroCount, offset: this.length === 0 ? 0 : this.offset, counts };
  }

  /** Adds `count` to bucket `index`, which the caller made sure fits with those in use. */
  #add(index: number, count: number): void {
    if (this.length === 0) {
      this.offset = index;
      this.#resize(1, 0);
    } else if (index < this.offset) {
      this.#resize(this.length + this.offset - index, this.offset - index);
      this.offset = index;
    } else if (index >= this.offset + this.length) {
      this.#resize(index - this.offset + 1, 0);
    }
    this.#counts[index - this.offset]! += count;
  }

  /** Makes room for `length` buckets, those in use moved up `shift` places. */
  #resize(length: number, shift: number): void {
    if (length > this.#counts.length) {
      const grown = new Float64Array(capacityFor(length));
      grown.set(this.#counts.subarray(0, this.length), shift);
      this.#counts = grown;
    } else if (shift > 0) {
      this.#counts.copyWithin(shift, 0, this.length);
      this.#counts.fill(0, 0, shift);
    }
    this.length = length;
  }

  /** Halves the resolution `change` times: each bucket joins its neighbour, in place. */
  #downscale(change: number): void {
    if (change === 0) return;
    const counts = this.#counts;
    const offset = this.offset >> change;
    // A bucket moves to the same position or an earlier one, never over one still to be read.
    for (let i = 0; i < this.length; i++) {
      const count = counts[i]!;
      counts[i] = 0;
      counts[((this.offset + i) >> change) - offset]! += count;
    }
    this.length = ((this.offset + this.length - 1) >> change) - offset + 1;
    this.offset = offset;
    this.scale -= change;
  }
}

function capacityFor(length: number): number {
  return Math.min(MAX_BUCKETS, Math.max(8, 2 ** Math.ceil(Math.log2(length))));
}

/** Two histograms' buckets as one (see `addReading()`). */
export function addExponential(a: ExponentialReading, b: ExponentialReading): ExponentialReading {
  const sum = new ExponentialBuckets();
  sum.addReading(a);
  sum.addReading(b);
  return sum.reading();
}

/**
 * Whether buckets received from elsewhere are what `reading()` makes, for a histogram of `count`
 * samples: a scale the SDK knows, at most MAX_BUCKETS buckets within the range of doubles, and
 * whole, finite counts that add up to `count`.
 */
export function isExponentialReading(scale: number, zeroCount: number, offset: number, counts: ArrayLike<number>, count: number): boolean {
  if (!Number.isInteger(scale) || scale < MIN_SCALE || scale > MAX_SCALE || counts.length > MAX_BUCKETS) return false;
  if (!Number.isInteger(offset) || !Number.isSafeInteger(zeroCount) || zeroCount < 0) return false;
  if (counts.length > 0 && (offset < bucketIndex(Number.MIN_VALUE, scale) || offset + counts.length - 1 > bucketIndex(Number.MAX_VALUE, scale))) return false;
  let total = zeroCount;
  for (let i = 0; i < counts.length; i++) {
    const bucket = counts[i]!;
    if (!Number.isSafeInteger(bucket) || bucket < 0) return false;
    total += bucket;
  }
  return total === count;
}
