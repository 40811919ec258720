/**
 * The keep-alive to advise from the gaps that closed connections
 * (`poolscope.client.connection.reopened_after`). The alert rules compute the same figure in
 * PromQL (dashboards/src/alerts.ts), and a test holds the two to these constants.
 */

/**
 * The advice is the gaps' p95 times this. The p95 is read from buckets, as Prometheus'
 * `histogram_quantile` does, by interpolation within the bucket it falls in, and a gap there
 * may sit anywhere below the bucket's upper bound: the headroom covers that spread. Where the
 * window's gaps all fall in one bucket, as with steady pauses, 1.5 times the p95 is above the
 * bucket's upper bound, so above every gap.
 */
export const KEEP_ALIVE_HEADROOM = 1.5;

/**
 * Above this, the gaps are longer than servers and load balancers keep an idle connection open
 * (often 60 s): no client keep-alive would keep them, and a longer one only holds sockets the
 * server has forgotten.
 */
export const MAX_SENSIBLE_KEEP_ALIVE_MS = 60_000;

/** The gaps' p95 with headroom, in whole milliseconds, rounded up to two significant digits: 0.98 s gives 1500. */
export function advisedKeepAliveMs(gapP95Seconds: number): number {
  const ms = gapP95Seconds * KEEP_ALIVE_HEADROOM * 1000;
  if (!(ms > 0)) return 0;
  const step = 10 ** Math.max(0, Math.floor(Math.log10(ms)) - 1);
  // 0.048 s * 1.5 is 72.00000000000001 ms in floating point: not a reason to advise 73.
  return Math.ceil(ms / step - 1e-9) * step;
}
