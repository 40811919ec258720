/** Setup durations the typical one is the median of: enough to ignore one slow handshake. */
export const TYPICAL_SETUP_SAMPLES = 15;

/** The scratch array `median()` sorts into: one for all origins, filled afresh at each call. */
const medianScratch = new Float64Array(TYPICAL_SETUP_SAMPLES);

/** The median of `samples[0..count)`, count at most TYPICAL_SETUP_SAMPLES, without allocating. */
export function median(samples: Float64Array, count: number): number {
  const sorted = medianScratch;
  for (let i = 0; i < count; i++) {
    const value = samples[i]!;
    let j = i;
    for (; j > 0 && sorted[j - 1]! > value; j--) sorted[j] = sorted[j - 1]!;
    sorted[j] = value;
  }
  const middle = count >> 1;
  return count % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
