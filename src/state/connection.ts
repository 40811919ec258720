import { ATTR_CONNECTION_STATE } from '../metrics/catalog.js';
import type { Attributes, OriginStats } from './origin-stats.js';
import { OwedPeaks, type Consumer } from './peaks.js';

/** A request's headers went out on the connection; its first one makes it busy. */
export function streamStarted(connection: Connection): void {
  const protocol = connection.protocol;
  const inFlight = ++connection.inFlight;
  if (connection.closedAt < 0) {
    if (inFlight === 1) {
      protocol.openIdle--;
      protocol.openActive++;
    } else if (inFlight === 2) {
      protocol.multiplexed.add(connection);
    }
  }
  if (inFlight > protocol.streamsPeak) protocol.streamsPeak = inFlight;
  if (inFlight > protocol.streamsMax) protocol.streamsMax = inFlight;
}

/** A request on the connection ended; the last one makes it idle. */
export function streamEnded(connection: Connection, nowMs: number): void {
  if (connection.inFlight === 0) return;
  const inFlight = --connection.inFlight;
  if (inFlight === 1) connection.protocol.multiplexed.delete(connection);
  if (inFlight > 0) return;
  connection.idleSince = nowMs;
  if (connection.closedAt >= 0) return;
  const protocol = connection.protocol;
  protocol.openActive--;
  protocol.openIdle++;
}

/**
 * A dispatcher's open sockets to one origin.
 *
 * This and the other records made per socket or per request are classes, not object literals: V8
 * gives each literal an allocation site, and once the objects made there start to outlive a
 * scavenge (a socket's do) it deoptimizes the code that makes them, to allocate them where old
 * objects live. With a new connection per request, poolscope's connect and request handlers ran
 * unoptimized for thousands of requests after (`--trace-deopt`); objects a constructor makes have
 * no such site. Fields are set in the constructor, not declared as class fields: defining them
 * goes through V8's generic define path.
 */
export class PoolSockets {
  declare open: number;

  constructor() {
    this.open = 0;
  }
}

/** One socket, from its connect (or first sight) to its close. */
export class Connection {
  declare readonly origin: OriginStats;
  declare readonly protocol: ProtocolConnections;
  /**
   * Its dispatcher's open sockets to the origin, this one among them, from `joinPool()` on, when
   * the dispatcher could be told. One object per dispatcher and origin: two sockets of an origin
   * share it exactly when they share their dispatcher, which they are not kept alive for.
   */
  declare poolSockets: PoolSockets | undefined;
  /** Its dispatcher is the one the app called (from the interceptor), not undici's Pool. */
  declare dispatcherKnown: boolean;
  /** Counted in its pool, at its first request. */
  declare joined: boolean;
  /** When it closed; -1 while open. */
  declare closedAt: number;
  declare readonly openedAt: number;
  /** Connected before poolscope was listening: its first request seen counts as reused. */
  declare readonly adopted: boolean;
  declare requests: number;
  declare inFlight: number;
  declare idleSince: number;

  constructor(origin: OriginStats, protocol: ProtocolConnections, openedAt: number, adopted: boolean) {
    this.origin = origin;
    this.protocol = protocol;
    this.poolSockets = undefined;
    this.dispatcherKnown = false;
    this.joined = false;
    this.openedAt = openedAt;
    this.adopted = adopted;
    this.requests = 0;
    this.inFlight = 0;
    this.idleSince = openedAt;
    this.closedAt = -1;
  }
}

/** An origin's sockets of one HTTP version (`network.protocol.version`). */
export class ProtocolConnections {
  readonly attributes: Attributes;
  readonly stateAttributes: { readonly active: Attributes; readonly idle: Attributes };
  opened = 0;
  openActive = 0;
  openIdle = 0;
  closedActive = 0;
  closedIdle = 0;
  /** Most requests in flight on one socket since the last read by any consumer. */
  streamsPeak = 0;
  readonly #streamsOwed = new OwedPeaks();
  /** The same since start, for `snapshot()`. */
  streamsMax = 0;
  /**
   * Open sockets with two requests or more in flight: the peak starts again from them after
   * each read (from 1 if any socket is busy). Only these are kept, so the usual request, alone
   * on its socket, costs no set operation (two were ~60 ns a request, replay benchmark).
   */
  readonly multiplexed = new Set<Connection>();

  constructor(attributes: Attributes) {
    this.attributes = attributes;
    this.stateAttributes = {
      active: Object.freeze({ ...attributes, [ATTR_CONNECTION_STATE]: 'active' }),
      idle: Object.freeze({ ...attributes, [ATTR_CONNECTION_STATE]: 'idle' }),
    };
  }

  /** As `OriginStats.takeActiveRequestsPeak()`, for the most streams on one socket. */
  takeStreamsPeak(consumer: Consumer | undefined): number {
    if (consumer === undefined) return this.streamsPeak;
    let current = this.openActive > 0 ? 1 : 0;
    for (const connection of this.multiplexed) if (connection.inFlight > current) current = connection.inFlight;
    const peak = this.#streamsOwed.take(consumer, this.streamsPeak, current);
    this.streamsPeak = current;
    return peak;
  }
}
