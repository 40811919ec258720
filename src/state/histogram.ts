import { ExponentialBuckets } from './exponential-histogram.js';

/**
 * A fixed-bucket histogram kept in plain arrays: recording is a short scan and three
 * additions, and the exporter reads the arrays at collection time.
 */
export class BucketHistogram {
  readonly boundaries: readonly number[];
  /** One count per boundary, plus the overflow bucket. */
  readonly counts: Float64Array;
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  /** Also hands each sample on, when an app's own MeterProvider records poolscope's metrics. */
  mirror: ((value: number) => void) | undefined = undefined;
  /** The same samples in base-2 exponential buckets, kept only when OTLP is to send those. */
  exponential: ExponentialBuckets | undefined;

  constructor(boundaries: readonly number[], exponential = false) {
    this.boundaries = boundaries;
    this.counts = new Float64Array(boundaries.length + 1);
    this.exponential = exponential ? new ExponentialBuckets() : undefined;
  }

  record(value: number): void {
    const boundaries = this.boundaries;
    let i = 0;
    while (i < boundaries.length && value > boundaries[i]!) i++;
    this.counts[i]!++;
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    this.mirror?.(value);
    this.exponential?.record(value);
  }

  /** The value below which `q` of the samples fall, interpolated within its bucket. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = q * this.count;
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const inBucket = this.counts[i]!;
      if (inBucket > 0 && seen + inBucket >= rank) {
        const lower = i === 0 ? Math.min(this.min, this.boundaries[0]!) : this.boundaries[i - 1]!;
        const upper = i < this.boundaries.length ? this.boundaries[i]! : this.max;
        const clampedLower = Math.max(lower, this.min);
        const clampedUpper = Math.min(upper, this.max);
        return clampedLower + (clampedUpper - clampedLower) * ((rank - seen) / inBucket);
      }
      seen += inBucket;
    }
    return this.max;
  }
}
