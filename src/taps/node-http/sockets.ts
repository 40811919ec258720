import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Connection } from '../../state/connection.js';
import type { OriginRegistry } from '../../state/origin-registry.js';
import type { OriginStats } from '../../state/origin-stats.js';
import { socketSlot } from '../object-slot.js';
import { errorType, isObject, reportSkipped, resolves } from '../payloads.js';
import { SocketRecord, type HttpSocket, type RequestRecord } from './records.js';

/** node:http speaks HTTP/1.1 only: `network.protocol.version` of every socket it opens. */
const HTTP_1_1 = '1.1';

/** What the socket side tells the request side of the tap (see `NodeHttpTap`). */
export interface RequestEvents {
  /** The request holds a connected socket: it is sent. */
  sent(request: RequestRecord, connection: Connection, now: number): void;
  /** The request ended; with `release`, it gives its socket back. */
  ended(request: RequestRecord, release: boolean, now: number): void;
}

/**
 * The sockets of node:http's Agents, each followed from its creation (or first sight) to its
 * close, by its own events: `lookup`, `connect` and `secureConnect` while it connects, and `free`,
 * `agentRemove` and `close` for its life, which end the request it carries.
 */
export class AgentSockets {
  readonly #registry: OriginRegistry;
  readonly #requests: RequestEvents;
  readonly #records = socketSlot<SocketRecord>(this);
  /**
   * The socket `net` created last in this run of the event loop, and when. An Agent creates a
   * request's new socket inside the request's constructor, so the next `created` names its owner;
   * a queued request's socket, created when another one closes, is handed over a tick later.
   */
  #announced: object | undefined = undefined;
  #announcedAt = -1;
  readonly #forgetAnnounced = (): void => {
    this.#announced = undefined;
  };
  /** Listeners while a socket connects, made once per tap; `this` is the socket. */
  readonly #onLookup: (this: object) => void;
  readonly #onConnect: (this: object) => void;
  readonly #onSecureConnect: (this: object) => void;

  /**
   * The enabled tap's sockets. A socket gets its `close`, `free` and `agentRemove` listeners once
   * for the life of the process, which report to whichever tap is enabled then: restarting
   * poolscope must not pile listeners onto long-lived sockets.
   */
  static #current: AgentSockets | undefined;

  /** Every socket's listeners for its life (see `forLife()`); `this` is the socket. */
  static #onClose = forLife('close', () => AgentSockets.#current, (sockets, socket) => sockets.#closed(socket));
  static #onFree = forLife('free', () => AgentSockets.#current, (sockets, socket) => sockets.#freed(socket));
  static #onRemoved = forLife('agentRemove', () => AgentSockets.#current, (sockets, socket) => sockets.#removed(socket));

  constructor(registry: OriginRegistry, requests: RequestEvents) {
    this.#registry = registry;
    this.#requests = requests;
    const records = this.#records;
    const sockets = this;
    // Reading the slot and setting a number cannot throw.
    this.#onLookup = function onLookup(this: object) { const r = records.get(this); if (r !== undefined) r.lookupAt = performance.now(); };
    this.#onConnect = function onConnect(this: object) {
      try {
        const record = records.get(this);
        if (record === undefined) return;
        if (record.secure) record.connectAt = performance.now();
        else sockets.#connected(record, this as HttpSocket);
      } catch (error) {
        reportSkipped('socket connect', error);
      }
    };
    this.#onSecureConnect = function onSecureConnect(this: object) {
      try {
        const record = records.get(this);
        if (record !== undefined) sockets.#connected(record, this as HttpSocket);
      } catch (error) {
        reportSkipped('socket secureConnect', error);
      }
    };
  }

  enable(): void {
    AgentSockets.#current = this;
  }

  /** Sockets followed so far keep reporting to this tap until they close: see `NodeHttpTap.disable()`. */
  disable(): void {
    if (AgentSockets.#current === this) AgentSockets.#current = undefined;
    this.#announced = undefined;
  }

  /** Any client socket `net` creates: undici's, a database's, an Agent's. Only remembered for this run. */
  announced(socket: object): void {
    if (this.#announced === undefined) queueMicrotask(this.#forgetAnnounced);
    this.#announced = socket;
    this.#announcedAt = performance.now();
  }

  /** The socket the request's Agent created in its constructor, followed from its creation; or undefined. */
  createdFor(request: RequestRecord): SocketRecord | undefined {
    const announced = this.#announced;
    if (announced === undefined || !ownsSocket(announced as HttpSocket, request.request)) return undefined;
    this.#announced = undefined;
    return this.#follow(announced as HttpSocket, request, this.#announcedAt, false);
  }

  /**
   * The record of a socket an Agent handed `request`, followed from now on if it was not yet:
   * a queued request's new socket (created in this run, when another closed), a custom
   * `createConnection`'s, a TLS socket on a Node that does not announce those, or one connected
   * before poolscope was listening (adopted, open from `now`).
   */
  handedTo(request: RequestRecord, socket: HttpSocket, now: number): SocketRecord | undefined {
    const known = this.#records.get(socket);
    if (known !== undefined) return known;
    const announced = socket === this.#announced;
    if (announced) this.#announced = undefined;
    const ready = !announced && isReady(socket);
    const record = this.#follow(socket, request, announced ? this.#announcedAt : -1, ready);
    if (record === undefined || !ready) return record;
    const origin = record.origin ?? this.#originOf(record, socket);
    if (origin === undefined) return undefined;
    record.origin = origin;
    record.connection = origin.openConnection(HTTP_1_1, true, -1, now);
    return record;
  }

  /**
   * Starts following a socket until it closes: from `startedAt`, when `net` created it, or from
   * now (-1), connected already (`ready`) or still connecting.
   */
  #follow(socket: HttpSocket, request: RequestRecord, startedAt: number, ready: boolean): SocketRecord | undefined {
    if (typeof socket.on !== 'function') return undefined;
    const { host, protocol } = request.request as { host: string; protocol: string };
    const secure = socket.encrypted === true;
    const record = new SocketRecord(this, request.origin, host, protocol, startedAt, secure);
    const replaced = this.#records.replace(socket, record) as SocketRecord | undefined;
    if (replaced?.owner === this) {
      // `net` announces a socket once, at its creation: one followed already is a made-up payload's.
      this.#records.replace(socket, replaced);
      return undefined;
    }
    record.listened = replaced?.listened === true;
    if (!record.listened) {
      // `close` ahead of Node's own: Node fails the request in flight from its close listener, and
      // a socket that closed under a request must be seen closing `active`. It fires once: no `once`.
      if (typeof socket.prependListener === 'function') socket.prependListener('close', AgentSockets.#onClose);
      else socket.on('close', AgentSockets.#onClose);
      socket.on('free', AgentSockets.#onFree);
      socket.on('agentRemove', AgentSockets.#onRemoved);
      record.listened = true;
    }
    if (ready) return record;
    // `on`, not `once`: each fires once per socket. No `lookup` listener for an address (see the
    // undici tap), nor for a socket first seen after its lookup may have ended.
    if (startedAt >= 0 && resolves(host)) socket.on('lookup', this.#onLookup);
    if (!secure) {
      socket.on('connect', this.#onConnect);
    } else {
      // The TLS phase is timed only from a TCP connect seen.
      if (startedAt >= 0 || socket.connecting === true) socket.on('connect', this.#onConnect);
      socket.on('secureConnect', this.#onSecureConnect);
    }
    return record;
  }

  /** The socket connected (TCP for http, TLS for https): it is open, and its request goes out. */
  #connected(record: SocketRecord, socket: HttpSocket): void {
    if (record.connection !== undefined) return;
    const origin = record.origin ?? this.#originOf(record, socket);
    if (origin === undefined) return;
    record.origin = origin;
    const now = performance.now();
    const { startedAt, lookupAt, connectAt } = record;
    const connection = origin.openConnection(HTTP_1_1, false, startedAt < 0 ? -1 : (now - startedAt) / 1000, now);
    record.connection = connection;
    if (startedAt >= 0) {
      const tcpFrom = lookupAt >= 0 ? lookupAt : startedAt;
      const dnsSeconds = lookupAt >= 0 ? (lookupAt - startedAt) / 1000 : -1;
      if (!record.secure) origin.phasesMeasured(dnsSeconds, (now - tcpFrom) / 1000, -1);
      else if (connectAt >= 0) origin.phasesMeasured(dnsSeconds, (connectAt - tcpFrom) / 1000, (now - connectAt) / 1000);
    } else if (record.secure && connectAt >= 0) {
      origin.phasesMeasured(-1, -1, (now - connectAt) / 1000);
    }
    const waiting = record.request;
    if (waiting !== undefined && waiting.connection === undefined && !waiting.ended) this.#requests.sent(waiting, connection, now);
  }

  /**
   * A followed socket closed, and the request it carried, if any, ended with it. One that never
   * connected is a failed connection attempt when it ended on an error other than the app's abort.
   * One whose request already had its whole response (`Connection: close`, an Agent without
   * keep-alive) closes idle: the request gives the socket back first.
   */
  #closed(socket: object): void {
    const record = this.#records.get(socket);
    if (record === undefined) return;
    const now = performance.now();
    const current = record.request;
    if (current !== undefined) this.#requests.ended(current, current.request.res?.complete === true, now);
    const connection = record.connection;
    if (connection === undefined) {
      const error = (socket as HttpSocket).errored;
      if (record.origin === undefined || !isObject(error)) return;
      const type = errorType(error);
      if (type !== 'ABORT_ERR') record.origin.connectionFailed(type);
      return;
    }
    if (connection.closedAt < 0) connection.origin.closeConnection(connection, now);
  }

  /** Node frees a socket when its request ended with its whole response, or was dropped before taking it. */
  #freed(socket: object): void {
    const current = this.#records.get(socket)?.request;
    if (current !== undefined) this.#requests.ended(current, true, performance.now());
  }

  /**
   * The Agent gives a socket up: the request that carries it upgraded (or CONNECTed), and the
   * socket is the app's from now on, busy until it closes (see `NodeHttpTap`'s `#end()`).
   */
  #removed(socket: object): void {
    const current = this.#records.get(socket)?.request;
    if (current !== undefined && current.request.upgradeOrConnect === true) this.#requests.ended(current, true, performance.now());
  }

  /** The origin of a socket whose first request could not tell it: its host and remote port. */
  #originOf(record: SocketRecord, socket: HttpSocket): OriginStats | undefined {
    const port = socket.remotePort;
    if (typeof port !== 'number') return undefined;
    const host = isIPv6(record.host) ? `[${record.host}]` : record.host;
    return this.#registry.lookupAuthority(record.protocol, `${host}:${port}`);
  }
}

/**
 * A listener for every socket's life, `this` the socket, that hands the event to whichever tap's
 * sockets are `current` when it fires. A throw would reach the app: it is caught and said once.
 */
function forLife<T>(event: string, current: () => T | undefined, handle: (sockets: T, socket: object) => void): (this: object) => void {
  return function onSocketEvent(this: object) {
    try {
      const sockets = current();
      if (sockets !== undefined) handle(sockets, this);
    } catch (error) {
      reportSkipped(`socket ${event}`, error);
    }
  };
}

/**
 * Whether the socket `net` announced last is the request's: Node 24.15 and later (and 26) name the
 * request on it at once; before, only the listeners its Agent just put on a socket that has not
 * connected yet tell.
 */
function ownsSocket(socket: HttpSocket, request: object): boolean {
  if (socket._httpMessage === request) return true;
  return socket._httpMessage == null && socket.pending === true && typeof socket.listenerCount === 'function' &&
    (socket.listenerCount('agentRemove') as number) > 0;
}

/** Connected: TCP for a plain socket, TLS for a secure one (`alpnProtocol` stays null until its handshake ends). */
function isReady(socket: HttpSocket): boolean {
  if (socket.encrypted === true) return socket.alpnProtocol !== null && socket.alpnProtocol !== undefined;
  return socket.pending === false;
}
