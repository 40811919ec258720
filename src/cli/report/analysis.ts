import { diagnose, hasEnoughTraffic, notChecked, type DiagnosisOptions, type Finding, type Throughput } from './diagnose.js';
import { quantile, requestsOf, reuseRateOf, type Figures, type OriginFigures } from './figures.js';

/** One origin's line of the report, as printed and as `--json` gives it. */
export interface OriginReport {
  readonly origin: string;
  /** The kind of pool (`undici`, `http.Agent`); null for series without `poolscope_pool_type`. */
  readonly poolType: string | null;
  readonly requests: number;
  readonly reuseRate: number | null;
  readonly connectionsOpened: number;
  readonly setupP50Ms: number | null;
  readonly ttfbColdP50Ms: number | null;
  readonly ttfbWarmP50Ms: number | null;
  readonly queueP95Ms: number | null;
  readonly peakActive: number;
  readonly savedSeconds: number;
  readonly enoughTraffic: boolean;
  readonly findings: Finding[];
}

export interface Analysis {
  readonly origins: OriginReport[];
  /** Rules not run because the sources lack the series they need. */
  readonly notChecked: string[];
}

function ms(seconds: number | null): number | null {
  return seconds === null ? null : Math.round(seconds * 10_000) / 10;
}

export function reportOrigin(
  figures: OriginFigures,
  present: Figures['present'],
  options: DiagnosisOptions,
  throughput?: Throughput,
): OriginReport {
  return {
    origin: figures.origin,
    poolType: figures.poolType,
    requests: requestsOf(figures),
    reuseRate: reuseRateOf(figures),
    connectionsOpened: figures.connectionsOpened,
    setupP50Ms: ms(quantile(figures.setupDuration, 0.5)),
    ttfbColdP50Ms: ms(quantile(figures.timeToFirstByteNew, 0.5)),
    ttfbWarmP50Ms: ms(quantile(figures.timeToFirstByteReused, 0.5)),
    queueP95Ms: present.has('timeInQueue') ? ms(quantile(figures.timeInQueue, 0.95)) : null,
    peakActive: figures.activeRequestsPeak,
    savedSeconds: Math.round(figures.savedSeconds * 1000) / 1000,
    enoughTraffic: hasEnoughTraffic(figures, options),
    findings: diagnose(figures, present, options, throughput),
  };
}

/** Every origin of the figures, busiest first; `throughputs` has the keys of `figures.origins`. */
export function analyse(figures: Figures, options: DiagnosisOptions, throughputs?: ReadonlyMap<string, Throughput>): Analysis {
  const origins = [...figures.origins]
    .sort(([, a], [, b]) => requestsOf(b) - requestsOf(a))
    .map(([key, origin]) => reportOrigin(origin, figures.present, options, throughputs?.get(key)));
  return { origins, notChecked: notChecked(figures.present) };
}

/**
 * Throughput per origin between two readings of the same sources `seconds` apart. An origin
 * whose count went down restarted in between and gets none.
 */
export function throughputsBetween(before: Figures, after: Figures, seconds: number): Map<string, Throughput> {
  const result = new Map<string, Throughput>();
  if (!(seconds > 0)) return result;
  for (const [origin, later] of after.origins) {
    const earlier = before.origins.get(origin);
    const requests = requestsOf(later) - (earlier === undefined ? 0 : requestsOf(earlier));
    if (requests < 0) continue;
    const queued = later.timeInQueue.count - (earlier?.timeInQueue.count ?? 0);
    const queueSum = later.timeInQueue.sum - (earlier?.timeInQueue.sum ?? 0);
    result.set(origin, {
      seconds,
      requestsPerSecond: requests / seconds,
      meanQueueSeconds: queued > 0 && queueSum >= 0 ? queueSum / queued : null,
    });
  }
  return result;
}
