// What the tap remembers of a request in flight and of a socket, from first sight to close.
import { inspect } from 'node:util';
import type { OriginStats } from '../../state/origin-stats.js';
import type { Connection } from '../../state/connection.js';
import type { NodeHttpTap } from './tap.js';

/** The fields of a `ClientRequest` the tap reads; every one is checked before use. */
export interface HttpRequest {
  readonly protocol?: unknown;
  readonly host?: unknown;
  readonly agent?: unknown;
  readonly socketPath?: unknown;
  readonly socket?: unknown;
  readonly res?: { readonly complete?: unknown } | null;
  readonly upgradeOrConnect?: unknown;
  readonly reusedSocket?: unknown;
  readonly destroyed?: unknown;
  on?: unknown;
}

/** The fields of a `net.Socket` or `tls.TLSSocket` the tap reads. */
export interface HttpSocket {
  readonly _httpMessage?: unknown;
  readonly encrypted?: unknown;
  readonly connecting?: unknown;
  readonly pending?: unknown;
  readonly alpnProtocol?: unknown;
  readonly remotePort?: unknown;
  readonly errored?: unknown;
  on(event: string, listener: (this: object, ...args: never[]) => void): unknown;
  prependListener?(event: string, listener: (this: object) => void): unknown;
  listenerCount?(event: string): unknown;
}

/**
 * What poolscope remembers of one `ClientRequest`, from its creation to its end, on the request
 * itself. A class, as the records made per socket are: see `PoolSockets` in state/connection.ts.
 */
export class RequestRecord {
  /**
   * How it shows where an app logs its request (`console.log(req)`, an axios error): one word,
   * not the tap, the origin's figures and the request again.
   */
  [inspect.custom](): string {
    return '[poolscope]';
  }

  /** The tap that made it: a request created before a restart is a stranger to the next tap. */
  declare readonly owner: NodeHttpTap;
  declare readonly request: HttpRequest;
  /**
   * Undefined until it is sent when neither Node nor its Host header told the port it connects
   * to: its origin is then its socket's, and it counts as active from then on.
   */
  declare origin: OriginStats | undefined;
  /** Its `http.Agent`: one pool per Agent instance (`agent: false` makes one per request). */
  declare readonly pool: object | undefined;
  declare readonly startedAt: number;
  /** Counted in `active_requests`: from its creation, or from when it is sent if its origin was not known before. */
  declare counted: boolean;
  /** The socket it holds, from when the tap linked them (see `NodeHttpTap`) until it ends. */
  declare socket: SocketRecord | undefined;
  /** Its socket's state once it was sent: the socket connected and carries it. */
  declare connection: Connection | undefined;
  declare reused: boolean;
  declare firstByteSeen: boolean;
  /** It left `active_requests` (an error, or its `close`). */
  declare ended: boolean;
  /** It no longer holds its socket (its `close`, or its socket closed after its response). */
  declare released: boolean;

  constructor(owner: NodeHttpTap, request: HttpRequest, origin: OriginStats | undefined, pool: object | undefined, startedAt: number, counted: boolean) {
    this.owner = owner;
    this.request = request;
    this.origin = origin;
    this.pool = pool;
    this.startedAt = startedAt;
    this.counted = counted;
    this.socket = undefined;
    this.connection = undefined;
    this.reused = false;
    this.firstByteSeen = false;
    this.ended = false;
    this.released = false;
  }
}

/**
 * What poolscope remembers of one socket of an Agent, on the socket itself, from the request it
 * was made for (or first handed to) to its close.
 */
export class SocketRecord {
  /** The tap's `AgentSockets`: a socket followed before a restart is a stranger to the next tap. */
  declare readonly owner: object;
  /** Undefined until it connects when its first request could not tell its origin. */
  declare origin: OriginStats | undefined;
  /** Its first request's host and protocol, to name its origin from its remote port. */
  declare readonly host: string;
  declare readonly protocol: string;
  /** When `net` created it, or -1 when it was first seen later: then its setup is not timed. */
  declare readonly startedAt: number;
  /** TLS follows TCP: the socket's `connect` event ends TCP, `secureConnect` the setup. */
  declare readonly secure: boolean;
  declare lookupAt: number;
  declare connectAt: number;
  /** Its state from its connect (or first sight, connected) on. */
  declare connection: Connection | undefined;
  /** The request it carries now, or is connecting for. */
  declare request: RequestRecord | undefined;
  /** It has the `close`, `free` and `agentRemove` listeners, which stay for its life, whichever tap is enabled. */
  declare listened: boolean;

  constructor(owner: object, origin: OriginStats | undefined, host: string, protocol: string, startedAt: number, secure: boolean) {
    this.owner = owner;
    this.origin = origin;
    this.host = host;
    this.protocol = protocol;
    this.startedAt = startedAt;
    this.secure = secure;
    this.lookupAt = -1;
    this.connectAt = -1;
    this.connection = undefined;
    this.request = undefined;
    this.listened = false;
  }
}

/** The request holds the socket from now on, until it ends or the socket closes. */
export function link(request: RequestRecord, socket: SocketRecord): void {
  request.socket = socket;
  socket.request = request;
}
