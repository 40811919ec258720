// What the tap remembers of a request in flight and of a socket, from first sight to close.
import type { OriginStats } from '../../state/origin-stats.js';
import type { Connection } from '../../state/connection.js';
import type { UndiciTap } from './tap.js';

/**
 * What poolscope remembers of one request while it is in flight. A class, as the records made per
 * socket are: see `PoolSockets` in state/connection.ts.
 */
export class RequestRecord {
  /** The tap that made it: a request created before a restart is a stranger to the next tap. */
  declare readonly owner: UndiciTap;
  declare readonly origin: OriginStats;
  /** Its dispatch, once the interceptor said when that was; until then its creation. */
  declare startedAt: number;
  /** Counted in `active_requests`: upgrades and CONNECT never publish an end, so they are not. */
  declare readonly counted: boolean;
  /** Upgrades hand their socket to the app, which keeps it busy until it closes. */
  declare readonly upgrade: boolean;
  declare socket: Connection | undefined;
  declare reused: boolean;
  declare firstByteSeen: boolean;
  declare ended: boolean;

  constructor(owner: UndiciTap, origin: OriginStats, createdAt: number, counted: boolean, upgrade: boolean) {
    this.owner = owner;
    this.origin = origin;
    this.startedAt = createdAt;
    this.counted = counted;
    this.upgrade = upgrade;
    this.socket = undefined;
    this.reused = false;
    this.firstByteSeen = false;
    this.ended = false;
  }
}

/**
 * What poolscope remembers of one socket, on the socket itself: one record from the connect
 * attempt `net` made it for to its close. Its connect times are when the attempt started and,
 * where Node shows them on the socket, when the phases before the last one ended: the last phase
 * (TCP, or TLS over it) ends when undici says it connected.
 */
export class SocketRecord {
  /** The tap that made it: a socket made before a restart is a stranger to the next tap. */
  declare readonly owner: UndiciTap;
  /** The attempt's connector: attempts whose socket was not seen pair up by connector. */
  declare readonly connector: unknown;
  /** The attempt's start, or -1 for a socket whose attempt was not seen. */
  declare readonly startedAt: number;
  /** TLS follows TCP: the end of TCP is the socket's `connect` event. */
  declare readonly secure: boolean;
  /** A host name, not an address: `net` looks it up, and the socket's `lookup` event ends DNS. */
  declare readonly resolves: boolean;
  declare lookupAt: number;
  declare connectAt: number;
  /** The socket's state from its connect (or first request seen) on. */
  declare connection: Connection | undefined;
  /** It has the close listener, which stays for the socket's life, whichever tap is enabled. */
  declare closeFollowed: boolean;

  constructor(owner: UndiciTap, connector: unknown, startedAt: number, secure: boolean, resolves: boolean) {
    this.owner = owner;
    this.connector = connector;
    this.startedAt = startedAt;
    this.secure = secure;
    this.resolves = resolves;
    this.lookupAt = -1;
    this.connectAt = -1;
    this.connection = undefined;
    this.closeFollowed = false;
  }
}
