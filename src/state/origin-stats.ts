import { BucketHistogram } from './histogram.js';
import {
  ATTR_CONNECTION_STATE, ATTR_ERROR_TYPE, ATTR_PROTOCOL_VERSION, ATTR_REUSED, ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT, ATTR_URL_SCHEME, BOUNDARIES, OTHER_ORIGIN,
} from '../metrics/catalog.js';

export type Attributes = Readonly<Record<string, string | number | boolean>>;

/** Setup durations the typical one is the median of: enough to ignore one slow handshake. */
const TYPICAL_SETUP_SAMPLES = 15;
/** The reuse-ratio window: six slots of ten seconds. */
const WINDOW_SLOTS = 6;
const WINDOW_SLOT_MS = 10_000;
/** Distinct `error.type` values kept per origin; the rest count as `_other`. */
const MAX_ERROR_TYPES = 20;

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
  readonly attributes: Attributes;
  readonly reusedAttributes: readonly [newConnection: Attributes, reused: Attributes];
  readonly stateAttributes: { readonly active: Attributes; readonly idle: Attributes };

  requestsNew = 0;
  requestsReused = 0;
  activeRequests = 0;
  /** Highest `activeRequests` since the exporter last read it. */
  activeRequestsPeak = 0;
  openActive = 0;
  openIdle = 0;
  closedActive = 0;
  closedIdle = 0;
  /** Sockets opened, per `network.protocol.version`. */
  readonly opened = new Map<string, number>();
  /** Failed connection attempts, per `error.type`. */
  readonly connectErrors = new Map<string, number>();
  savedSeconds = 0;
  /** Median of the latest measured setup durations, in seconds; NaN until one is measured. */
  typicalSetupSeconds = NaN;

  readonly setupDuration = new BucketHistogram(BOUNDARIES.setupDuration);
  readonly timeToFirstByte = [
    new BucketHistogram(BOUNDARIES.timeToFirstByte),
    new BucketHistogram(BOUNDARIES.timeToFirstByte),
  ] as const;
  readonly connectionDuration = new BucketHistogram(BOUNDARIES.connectionDuration);
  readonly connectionRequests = new BucketHistogram(BOUNDARIES.connectionRequests);
  readonly idleTime = new BucketHistogram(BOUNDARIES.idleTime);

  readonly #recentSetups = new Float64Array(TYPICAL_SETUP_SAMPLES);
  #recentSetupCount = 0;
  readonly #windowSlot = new Float64Array(WINDOW_SLOTS).fill(-1);
  readonly #windowAll = new Float64Array(WINDOW_SLOTS);
  readonly #windowReused = new Float64Array(WINDOW_SLOTS);
  readonly #attributeCache = new Map<string, Attributes>();

  constructor(identity: OriginIdentity) {
    this.identity = identity;
    this.attributes = Object.freeze(identity.host === OTHER_ORIGIN
      ? { [ATTR_SERVER_ADDRESS]: OTHER_ORIGIN }
      : {
          [ATTR_SERVER_ADDRESS]: identity.host,
          [ATTR_SERVER_PORT]: identity.port,
          [ATTR_URL_SCHEME]: identity.scheme,
        });
    this.reusedAttributes = [this.with(ATTR_REUSED, false), this.with(ATTR_REUSED, true)];
    this.stateAttributes = {
      active: this.with(ATTR_CONNECTION_STATE, 'active'),
      idle: this.with(ATTR_CONNECTION_STATE, 'idle'),
    };
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

  protocolAttributes(version: string): Attributes {
    return this.with(ATTR_PROTOCOL_VERSION, version);
  }

  errorAttributes(errorType: string): Attributes {
    return this.with(ATTR_ERROR_TYPE, errorType);
  }

  requestStarted(): void {
    const active = ++this.activeRequests;
    if (active > this.activeRequestsPeak) this.activeRequestsPeak = active;
  }

  requestEnded(): void {
    this.activeRequests--;
  }

  /** Returns the peak since the previous call and starts the next period at the current level. */
  takeActiveRequestsPeak(): number {
    const peak = this.activeRequestsPeak;
    this.activeRequestsPeak = this.activeRequests;
    return peak;
  }

  connectionOpened(version: string, setupSeconds: number): void {
    this.opened.set(version, (this.opened.get(version) ?? 0) + 1);
    this.openIdle++;
    if (setupSeconds >= 0) this.#recordSetup(setupSeconds);
  }

  /** A socket open before poolscope started: open from now on, but not opened by us. */
  connectionAdopted(): void {
    this.openIdle++;
  }

  connectionFailed(errorType: string): void {
    const known = this.connectErrors.has(errorType) || this.connectErrors.size < MAX_ERROR_TYPES;
    const key = known ? errorType : OTHER_ORIGIN;
    this.connectErrors.set(key, (this.connectErrors.get(key) ?? 0) + 1);
  }

  /** A request's headers went out on a socket; `idleSeconds` is negative when it was not idle. */
  requestSent(reused: boolean, idleSeconds: number, nowMs: number): void {
    if (reused) {
      this.requestsReused++;
      if (this.typicalSetupSeconds === this.typicalSetupSeconds) this.savedSeconds += this.typicalSetupSeconds;
      if (idleSeconds >= 0) this.idleTime.record(idleSeconds);
    } else {
      this.requestsNew++;
    }
    const epoch = Math.floor(nowMs / WINDOW_SLOT_MS);
    const slot = epoch % WINDOW_SLOTS;
    if (this.#windowSlot[slot] !== epoch) {
      this.#windowSlot[slot] = epoch;
      this.#windowAll[slot] = 0;
      this.#windowReused[slot] = 0;
    }
    this.#windowAll[slot]!++;
    if (reused) this.#windowReused[slot]!++;
  }

  socketBusy(): void {
    this.openIdle--;
    this.openActive++;
  }

  socketIdle(): void {
    this.openActive--;
    this.openIdle++;
  }

  connectionClosed(busy: boolean, lifetimeSeconds: number, requests: number): void {
    if (busy) {
      this.openActive--;
      this.closedActive++;
    } else {
      this.openIdle--;
      this.closedIdle++;
    }
    this.connectionDuration.record(lifetimeSeconds);
    this.connectionRequests.record(requests);
  }

  /** Reused / all requests over the last 60 s, or NaN when there was none. */
  reuseRatio(nowMs: number): number {
    const oldest = Math.floor(nowMs / WINDOW_SLOT_MS) - WINDOW_SLOTS + 1;
    let all = 0;
    let reused = 0;
    for (let i = 0; i < WINDOW_SLOTS; i++) {
      if (this.#windowSlot[i]! >= oldest) {
        all += this.#windowAll[i]!;
        reused += this.#windowReused[i]!;
      }
    }
    return all === 0 ? NaN : reused / all;
  }

  #recordSetup(seconds: number): void {
    this.setupDuration.record(seconds);
    this.#recentSetups[this.#recentSetupCount % TYPICAL_SETUP_SAMPLES] = seconds;
    this.#recentSetupCount++;
    const samples = this.#recentSetups.slice(0, Math.min(this.#recentSetupCount, TYPICAL_SETUP_SAMPLES)).sort();
    const middle = samples.length >> 1;
    this.typicalSetupSeconds = samples.length % 2 === 1
      ? samples[middle]!
      : (samples[middle - 1]! + samples[middle]!) / 2;
  }
}
