import type { MetricKey } from '../metrics/catalog.js';
import { Turns } from '../turns.js';
import type { BucketHistogram } from './histogram.js';
import type { OriginSource } from './origin-registries.js';
import type { Attributes, OriginStats } from './origin-stats.js';
import type { Consumer } from './peaks.js';

/** `weight`, for ratios only: the requests the ratio was taken over. */
export type ValueReading = (metric: MetricKey, value: number, attributes: Attributes, weight?: number) => void;
export type HistogramReading = (metric: MetricKey, histogram: BucketHistogram, attributes: Attributes) => void;

/**
 * Reads every counter and gauge of one origin, at collection time. Both `reused` values, and
 * both connection states of every protocol version seen, are always read, as 0 if need be, so
 * ratios never go empty. The peaks are `consumer`'s: since its previous read. Without a
 * consumer they are looked at, not taken.
 */
export function readValues(origin: OriginStats, nowMs: number, consumer: Consumer | undefined, read: ValueReading): void {
  const [newAttributes, reusedAttributes] = origin.reusedAttributes;
  read('requests', origin.requestsNew, newAttributes);
  read('requests', origin.requestsReused, reusedAttributes);
  read('activeRequests', origin.activeRequests, origin.attributes);
  read('activeRequestsPeak', origin.takeActiveRequestsPeak(consumer), origin.attributes);
  for (const protocol of origin.protocols.values()) {
    const { active, idle } = protocol.stateAttributes;
    read('connectionsOpened', protocol.opened, protocol.attributes);
    read('openConnections', protocol.openActive, active);
    read('openConnections', protocol.openIdle, idle);
    read('connectionsClosed', protocol.closedActive, active);
    read('connectionsClosed', protocol.closedIdle, idle);
    read('streamsPeak', protocol.takeStreamsPeak(consumer), protocol.attributes);
  }
  for (const [type, count] of origin.connectErrors) read('connectionErrors', count, origin.errorAttributes(type));
  read('connectionsReopened', origin.reopened, origin.attributes);
  read('pools', origin.openPools, origin.attributes);
  read('poolsCreated', origin.poolsCreated, origin.attributes);
  read('savedTime', origin.savedSeconds, origin.attributes);
  const { reused, all } = origin.reuseWindow(nowMs);
  if (all > 0) read('reuseRatio', reused / all, origin.attributes, all);
}

/** Reads every histogram of one origin. */
export function readHistograms(origin: OriginStats, read: HistogramReading): void {
  const [newAttributes, reusedAttributes] = origin.reusedAttributes;
  read('timeToFirstByte', origin.timeToFirstByte[0], newAttributes);
  read('timeToFirstByte', origin.timeToFirstByte[1], reusedAttributes);
  read('timeInQueue', origin.timeInQueue, origin.attributes);
  read('setupDuration', origin.setupDuration, origin.attributes);
  for (let i = 0; i < origin.phaseDuration.length; i++) read('phaseDuration', origin.phaseDuration[i]!, origin.phaseAttributes[i]!);
  read('connectionDuration', origin.connectionDuration, origin.attributes);
  read('connectionRequests', origin.connectionRequests, origin.attributes);
  read('idleTime', origin.idleTime, origin.attributes);
  read('reopenedAfter', origin.reopenedAfter, origin.attributes);
}

/**
 * Origins read in one turn of the event loop. A collection reads every origin, and at 1,000
 * origins that was 10-24 ms in one task (bench/scrape.mjs): about 1 ms a turn now, whatever
 * `maxOrigins` is.
 */
export const ORIGINS_PER_TURN = 64;

/** Calls `read` for every origin of `origins` (each registry's `_other` one last), in turns (see `Turns`). */
export function forEachOriginInTurns(origins: OriginSource, read: (origin: OriginStats) => void): Promise<void> {
  return new Turns(ORIGINS_PER_TURN).forEach(origins.all(), read);
}
