import type { OriginRegistry } from '../state/origin-registry.js';
import type { Attributes, OriginStats } from '../state/origin-stats.js';
import type { BucketHistogram } from '../state/histogram.js';
import type { MetricKey } from './catalog.js';

export type ValueReading = (metric: MetricKey, value: number, attributes: Attributes) => void;
export type HistogramReading = (metric: MetricKey, histogram: BucketHistogram, attributes: Attributes) => void;

/**
 * Reads every counter and gauge of every origin, at collection time. Both `reused` values and
 * both connection states are always read, as 0 if need be, so ratios never go empty.
 */
export function readValues(registry: OriginRegistry, nowMs: number, read: ValueReading): void {
  for (const origin of registry.all()) {
    const [newAttributes, reusedAttributes] = origin.reusedAttributes;
    read('requests', origin.requestsNew, newAttributes);
    read('requests', origin.requestsReused, reusedAttributes);
    read('activeRequests', origin.activeRequests, origin.attributes);
    read('activeRequestsPeak', origin.takeActiveRequestsPeak(), origin.attributes);
    read('openConnections', origin.openActive, origin.stateAttributes.active);
    read('openConnections', origin.openIdle, origin.stateAttributes.idle);
    read('connectionsClosed', origin.closedActive, origin.stateAttributes.active);
    read('connectionsClosed', origin.closedIdle, origin.stateAttributes.idle);
    for (const [version, count] of origin.opened) read('connectionsOpened', count, origin.protocolAttributes(version));
    for (const [type, count] of origin.connectErrors) read('connectionErrors', count, origin.errorAttributes(type));
    read('savedTime', origin.savedSeconds, origin.attributes);
    const ratio = origin.reuseRatio(nowMs);
    if (ratio === ratio) read('reuseRatio', ratio, origin.attributes);
  }
}

/** Reads every histogram of one origin. */
export function readHistograms(origin: OriginStats, read: HistogramReading): void {
  const [newAttributes, reusedAttributes] = origin.reusedAttributes;
  read('timeToFirstByte', origin.timeToFirstByte[0], newAttributes);
  read('timeToFirstByte', origin.timeToFirstByte[1], reusedAttributes);
  read('setupDuration', origin.setupDuration, origin.attributes);
  read('connectionDuration', origin.connectionDuration, origin.attributes);
  read('connectionRequests', origin.connectionRequests, origin.attributes);
  read('idleTime', origin.idleTime, origin.attributes);
}
