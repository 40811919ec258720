import { BucketHistogram } from './histogram.js';
import {
  ATTR_ERROR_TYPE, ATTR_PHASE, ATTR_POOL_TYPE, ATTR_PROTOCOL_VERSION, ATTR_REUSED,
  ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT, ATTR_URL_SCHEME, OTHER_ORIGIN, type HistogramLayout, type PoolType,
} from '../metrics/catalog.js';
import { Connection, PoolSockets, ProtocolConnections, streamEnded, streamStarted } from './connection.js';
import { OwedPeaks, type Consumer } from './peaks.js';
import { median, TYPICAL_SETUP_SAMPLES } from './typical-setup.js';

export type Attributes = Readonly<Record<string, string | number | boolean>>;

/** The reuse-ratio window: six slots of ten seconds. */
const WINDOW_SLOTS = 6;
const WINDOW_SLOT_MS = 10_000;
/** Distinct `error.type` values kept per origin; the rest count as `_other`. */
const MAX_ERROR_TYPES = 20;
/** Idle closes remembered per origin for keep-alive churn; older ones are forgotten first. */
const MAX_IDLE_CLOSES = 32;
/**
 * A socket that closes this soon after its last response did not time out: undici or the
 * server ended it on purpose (`Connection: close`, HEAD, a request limit, the app closing its
 * Agent). A longer keep-alive would not have kept it, so it is not churn. 10 ms was too short
 * on a loaded 2-core machine, where the close of a `Connection: close` socket came later; no
 * keep-alive timeout in use is near 30 ms.
 */
const KEEP_ALIVE_MIN_IDLE_MS = 30;

/** The connection phases, in order, as `poolscope.connection.phase` names them. */
export const PHASES = ['dns', 'tcp', 'tls'] as const;

export interface OriginIdentity {
  /** `scheme://host:port`, the default port filled in. */
  readonly key: string;
  readonly scheme: string;
  readonly host: string;
  readonly port: number;
}

/**
 * Everything poolscope knows about one origin: plain numbers and arrays, updated by the tap
 * and read by the exporter. Attribute objects are built once here and shared by every export.
 */
export class OriginStats {
  readonly identity: OriginIdentity;
  /** `poolscope.pool.type`: which kind of pool carried the origin's requests. */
  readonly poolType: PoolType;
  readonly attributes: Attributes;
  readonly reusedAttributes: readonly [newConnection: Attributes, reused: Attributes];
  readonly phaseAttributes: readonly Attributes[];

  requestsNew = 0;
  requestsReused = 0;
  activeRequests = 0;
  /** Highest `activeRequests` since the last read by any consumer. */
  activeRequestsPeak = 0;
  readonly #activeRequestsOwed = new OwedPeaks();
  /** Sockets per `network.protocol.version`, created at the first socket of each. */
  readonly protocols = new Map<string, ProtocolConnections>();
  /** New sockets opened within the churn window after an idle socket of the same pool closed. */
  reopened = 0;
  poolsCreated = 0;
  /** Dispatchers (Pool, or Client used alone) with a socket open to this origin: `poolscope.client.pools`. */
  openPools = 0;
  /**
   * Open sockets per dispatcher whose socket to this origin carried a request; each is counted
   * once in `poolsCreated`. A dispatcher's entry stays at 0 and goes with it: deleting and adding
   * entries as sockets come and go made the table rehash, which was most of what closing a
   * socket allocated. Each socket holds its pool's count, so only joining looks it up.
   */
  readonly #openPerPool = new WeakMap<object, PoolSockets>();
  /** Failed connection attempts, per `error.type`. */
  readonly connectErrors = new Map<string, number>();
  savedSeconds = 0;

  readonly setupDuration: BucketHistogram;
  /** On a new connection, then on a reused one. */
  readonly timeToFirstByte: readonly [BucketHistogram, BucketHistogram];
  readonly connectionDuration: BucketHistogram;
  readonly connectionRequests: BucketHistogram;
  readonly idleTime: BucketHistogram;
  /**
   * For each reopen, how long the closed socket had been idle when one was needed again: the
   * keep-alive that would have kept it.
   */
  readonly reopenedAfter: BucketHistogram;
  readonly timeInQueue: BucketHistogram;
  /** One per entry of PHASES. */
  readonly phaseDuration: readonly BucketHistogram[];
  readonly #churnWindowMs: number;
  /** Idle sockets that closed, oldest first, until a reopen uses them or the window passes. */
  readonly #idleCloses: Connection[] = [];

  readonly #recentSetups = new Float64Array(TYPICAL_SETUP_SAMPLES);
  #recentSetupCount = 0;
  #typicalSetup = NaN;
  /** A setup was measured since the median was last worked out. */
  #typicalSetupStale = false;
  readonly #windowSlot = new Float64Array(WINDOW_SLOTS).fill(-1);
  readonly #windowAll = new Float64Array(WINDOW_SLOTS);
  readonly #windowReused = new Float64Array(WINDOW_SLOTS);
  /** The slot requests are counted in until `#slotEnd`: a request finds it with one comparison. */
  #slot = 0;
  #slotEnd = -Infinity;
  readonly #attributeCache = new Map<string, Attributes>();

  /** `exponential`: every histogram also keeps base-2 exponential buckets (see `BucketHistogram`). */
  constructor(identity: OriginIdentity, poolType: PoolType, churnWindowMs: number, layout: HistogramLayout, exponential = false) {
    this.identity = identity;
    this.poolType = poolType;
    this.#churnWindowMs = churnWindowMs;
    const histogram = (boundaries: readonly number[]) => new BucketHistogram(boundaries, exponential);
    this.setupDuration = histogram(layout.setupDuration);
    this.timeToFirstByte = [histogram(layout.timeToFirstByte), histogram(layout.timeToFirstByte)];
    this.connectionDuration = histogram(layout.connectionDuration);
    this.connectionRequests = histogram(layout.connectionRequests);
    this.idleTime = histogram(layout.idleTime);
    this.reopenedAfter = histogram(layout.reopenedAfter);
    this.timeInQueue = histogram(layout.timeInQueue);
    this.phaseDuration = PHASES.map(() => histogram(layout.phaseDuration));
    this.attributes = Object.freeze(identity.host === OTHER_ORIGIN
      ? { [ATTR_SERVER_ADDRESS]: OTHER_ORIGIN, [ATTR_POOL_TYPE]: poolType }
      : {
          [ATTR_SERVER_ADDRESS]: identity.host,
          [ATTR_SERVER_PORT]: identity.port,
          [ATTR_URL_SCHEME]: identity.scheme,
          [ATTR_POOL_TYPE]: poolType,
        });
    this.reusedAttributes = [this.with(ATTR_REUSED, false), this.with(ATTR_REUSED, true)];
    this.phaseAttributes = PHASES.map((phase) => this.with(ATTR_PHASE, phase));
  }

  /** The origin's attributes plus one more, built once per distinct value. */
  with(key: string, value: string | boolean): Attributes {
    const cacheKey = `${key}\0${String(value)}`;
    let attributes = this.#attributeCache.get(cacheKey);
    if (attributes === undefined) {
      attributes = Object.freeze({ ...this.attributes, [key]: value });
      this.#attributeCache.set(cacheKey, attributes);
    }
    return attributes;
  }

  errorAttributes(errorType: string): Attributes {
    return this.with(ATTR_ERROR_TYPE, errorType);
  }

  requestStarted(): void {
    const active = ++this.activeRequests;
    if (active > this.activeRequestsPeak) this.activeRequestsPeak = active;
  }

  /**
   * A request ended: counted ones leave `active_requests`; the socket it was sent on, if any,
   * may become idle.
   */
  requestEnded(counted: boolean, connection: Connection | undefined, nowMs: number): void {
    if (counted) this.activeRequests--;
    if (connection !== undefined) streamEnded(connection, nowMs);
  }

  /**
   * The peak since `consumer`'s previous read (see OwedPeaks); the next period starts at the
   * current level. Without a consumer, a look that takes nothing: the peak since anyone's last read.
   */
  takeActiveRequestsPeak(consumer: Consumer | undefined): number {
    if (consumer === undefined) return this.activeRequestsPeak;
    const peak = this.#activeRequestsOwed.take(consumer, this.activeRequestsPeak, this.activeRequests);
    this.activeRequestsPeak = this.activeRequests;
    return peak;
  }

  /**
   * A socket to this origin starts being followed. `adopted`: it connected before poolscope
   * was listening, so it is open from now on but was not opened by us. `setupSeconds` is
   * negative when the attempt was not seen.
   */
  openConnection(version: string, adopted: boolean, setupSeconds: number, nowMs: number): Connection {
    const protocol = this.#protocol(version);
    protocol.openIdle++;
    if (!adopted) {
      protocol.opened++;
      if (setupSeconds >= 0) this.#recordSetup(setupSeconds);
    }
    return new Connection(this, protocol, nowMs, adopted);
  }

  /**
   * The socket's first request tells which dispatcher it serves: the one the app called when
   * the interceptor saw it (`dispatcherKnown`), else undici's Pool, or undefined when neither
   * could be told. A dispatcher new to this origin counts as created; a new socket after an idle
   * one closed within the churn window, as a reopen.
   */
  joinPool(connection: Connection, pool: object | undefined, dispatcherKnown: boolean, nowMs: number): void {
    connection.joined = true;
    connection.dispatcherKnown = dispatcherKnown;
    if (pool !== undefined) {
      let sockets = this.#openPerPool.get(pool);
      if (sockets === undefined) {
        sockets = new PoolSockets();
        this.#openPerPool.set(pool, sockets);
        if (!connection.adopted) this.poolsCreated++;
      }
      if (sockets.open++ === 0) this.openPools++;
      connection.poolSockets = sockets;
    }
    if (!connection.adopted) this.#countReopen(connection, nowMs);
  }

  /** DNS, TCP and TLS durations of one connect (the order of PHASES), each negative when not seen. */
  phasesMeasured(dnsSeconds: number, tcpSeconds: number, tlsSeconds: number): void {
    if (dnsSeconds >= 0) this.phaseDuration[0]!.record(dnsSeconds);
    if (tcpSeconds >= 0) this.phaseDuration[1]!.record(tcpSeconds);
    if (tlsSeconds >= 0) this.phaseDuration[2]!.record(tlsSeconds);
  }

  connectionFailed(errorType: string): void {
    const known = this.connectErrors.has(errorType) || this.connectErrors.size < MAX_ERROR_TYPES;
    const key = known ? errorType : OTHER_ORIGIN;
    this.connectErrors.set(key, (this.connectErrors.get(key) ?? 0) + 1);
  }

  /**
   * A request's headers went out on `connection`, `queueSeconds` after its dispatch (or
   * creation); `idleSeconds` is negative when the socket was not idle. One call for the origin's
   * counts and the socket's streams: two calls from the tap were ~680 instructions more per
   * keep-alive request (bench/callgrind.mjs), as V8 then inlined neither.
   */
  requestSent(connection: Connection, reused: boolean, idleSeconds: number, queueSeconds: number, nowMs: number): void {
    streamStarted(connection);
    this.timeInQueue.record(queueSeconds);
    if (reused) {
      this.requestsReused++;
      const typical = this.typicalSetupSeconds;
      if (typical === typical) this.savedSeconds += typical;
      if (idleSeconds >= 0) this.idleTime.record(idleSeconds);
    } else {
      this.requestsNew++;
    }
    if (nowMs >= this.#slotEnd) this.#enterSlot(nowMs);
    this.#windowAll[this.#slot]!++;
    if (reused) this.#windowReused[this.#slot]!++;
  }

  /** Moves the window's current slot to the one `nowMs` falls in, emptied if it held an older one. */
  #enterSlot(nowMs: number): void {
    const epoch = Math.floor(nowMs / WINDOW_SLOT_MS);
    const slot = epoch % WINDOW_SLOTS;
    if (this.#windowSlot[slot] !== epoch) {
      this.#windowSlot[slot] = epoch;
      this.#windowAll[slot] = 0;
      this.#windowReused[slot] = 0;
    }
    this.#slot = slot;
    this.#slotEnd = (epoch + 1) * WINDOW_SLOT_MS;
  }

  closeConnection(connection: Connection, nowMs: number): void {
    connection.closedAt = nowMs;
    const protocol = connection.protocol;
    if (connection.inFlight > 0) {
      protocol.openActive--;
      protocol.closedActive++;
      protocol.multiplexed.delete(connection);
    } else {
      protocol.openIdle--;
      protocol.closedIdle++;
      if (nowMs - connection.idleSince >= KEEP_ALIVE_MIN_IDLE_MS) {
        if (this.#idleCloses.length >= MAX_IDLE_CLOSES) this.#idleCloses.shift();
        this.#idleCloses.push(connection);
      }
    }
    const poolSockets = connection.poolSockets;
    if (poolSockets !== undefined && poolSockets.open > 0 && --poolSockets.open === 0) this.openPools--;
    this.connectionDuration.record((nowMs - connection.openedAt) / 1000);
    this.connectionRequests.record(connection.requests);
  }

  /** Reused / all requests over the last 60 s, or NaN when there was none. */
  reuseRatio(nowMs: number): number {
    const { reused, all } = this.reuseWindow(nowMs);
    return all === 0 ? NaN : reused / all;
  }

  /** Reused and all requests over the last 60 s. */
  reuseWindow(nowMs: number): { reused: number; all: number } {
    const oldest = Math.floor(nowMs / WINDOW_SLOT_MS) - WINDOW_SLOTS + 1;
    let all = 0;
    let reused = 0;
    for (let i = 0; i < WINDOW_SLOTS; i++) {
      if (this.#windowSlot[i]! >= oldest) {
        all += this.#windowAll[i]!;
        reused += this.#windowReused[i]!;
      }
    }
    return { reused, all };
  }

  #protocol(version: string): ProtocolConnections {
    let protocol = this.protocols.get(version);
    if (protocol === undefined) {
      const attributes = this.with(ATTR_PROTOCOL_VERSION, version);
      protocol = new ProtocolConnections(attributes);
      this.protocols.set(version, protocol);
    }
    return protocol;
  }

  /**
   * Keep-alive churn: a new socket while an idle socket to the origin closed within the window.
   * When both sockets' dispatchers are known and differ, it is not churn but another client
   * (built per request: the pools finding). Pools alone cannot say so: undici 7+ Agents replace
   * a Pool whose last socket closed, which is exactly what churn looks like.
   */
  #countReopen(connection: Connection, nowMs: number): void {
    const closes = this.#idleCloses;
    while (closes.length > 0 && nowMs - closes[0]!.closedAt > this.#churnWindowMs) closes.shift();
    for (let i = closes.length - 1; i >= 0; i--) {
      const closed = closes[i]!;
      if (closed.poolSockets !== connection.poolSockets && closed.dispatcherKnown && connection.dispatcherKnown) continue;
      closes.splice(i, 1);
      this.reopened++;
      this.reopenedAfter.record((nowMs - closed.idleSince) / 1000);
      return;
    }
  }

  #recordSetup(seconds: number): void {
    this.setupDuration.record(seconds);
    this.#recentSetups[this.#recentSetupCount % TYPICAL_SETUP_SAMPLES] = seconds;
    this.#recentSetupCount++;
    this.#typicalSetupStale = true;
  }

  /**
   * Median of the latest measured setup durations, in seconds; NaN until one is measured. Worked
   * out when read, at a reused request, not at each connect: a client built per request connects
   * for every request and reuses none, and the sort was 1,265 instructions of each (e2e callgrind).
   */
  get typicalSetupSeconds(): number {
    if (this.#typicalSetupStale) {
      this.#typicalSetupStale = false;
      this.#typicalSetup = median(this.#recentSetups, Math.min(this.#recentSetupCount, TYPICAL_SETUP_SAMPLES));
    }
    return this.#typicalSetup;
  }
}
