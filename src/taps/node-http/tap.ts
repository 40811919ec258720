import diagnosticsChannel from 'node:diagnostics_channel';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { OriginRegistry } from '../../state/origin-registry.js';
import type { Connection } from '../../state/connection.js';
import type { OriginStats } from '../../state/origin-stats.js';
import { socketSlot } from '../object-slot.js';
import { OWN_AGENT } from './own-traffic.js';
import { errorType, isObject, reportSkipped, resolves } from '../payloads.js';
import { authorityOf } from './request-authority.js';
import { RequestRecord, SocketRecord, type HttpRequest, type HttpSocket } from './records.js';

/** node:http speaks HTTP/1.1 only: `network.protocol.version` of every socket it opens. */
const HTTP_1_1 = '1.1';

/** Payloads as Node publishes them; every field is checked before use. */
interface RequestMessage { readonly request?: unknown }
interface SocketMessage { readonly socket?: unknown }

/** The diagnostics channels the tap subscribes to. */
export const TAPPED_CHANNELS = [
  'net.client.socket', 'http.client.request.created', 'http.client.request.start', 'http.client.response.finish',
  'http.client.request.error',
] as const;
type TappedChannel = typeof TAPPED_CHANNELS[number];

/**
 * Follows node:http and node:https clients (`http.Agent` pools) from Node's diagnostics channels
 * and the events of the requests and sockets they name, into per-origin state. Nothing of Node's
 * is patched: the tap listens to a request's `socket` and `close` events and to its socket's
 * connect events and `close`, none of which changes how Node or the app handle them.
 *
 * A request is followed from `created` (the end of its constructor: its Agent has queued it or
 * handed it a socket, which it takes on its `socket` event a tick later). It is sent, and its time
 * in queue ends, once it holds a connected socket: at its `socket` event for a socket that is
 * connected, else when the socket connects (TCP, and TLS for https). Reuse is the socket's own
 * count of requests, not `req.reusedSocket`, which a queued request handed a freed socket never gets.
 */
export class NodeHttpTap {
  readonly #registry: OriginRegistry;
  /** Records on requests, in a private field: apps log their requests, and a symbol would show. */
  readonly #requests = socketSlot<RequestRecord>(this);
  readonly #sockets = socketSlot<SocketRecord>(this);
  /**
   * The record of requests the tap does not follow (a Unix socket, another scheme): every request
   * created while enabled carries one, so no later read of its slot misses.
   */
  readonly #ignored: RequestRecord;
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
  readonly #subscriptions: Array<[string, diagnosticsChannel.ChannelListener]> = [];
  /** Listeners on requests and sockets, made once per tap; `this` is the request or the socket. */
  readonly #onRequestSocket: (this: object, socket: unknown) => void;
  readonly #onRequestClose: (this: object) => void;
  readonly #onLookup: (this: object) => void;
  readonly #onConnect: (this: object) => void;
  readonly #onSecureConnect: (this: object) => void;
  #enabled = false;

  /**
   * The enabled tap. A socket gets one close listener for the life of the process, which reports
   * to whichever tap is enabled when it closes: restarting poolscope must not pile listeners onto
   * long-lived sockets.
   */
  static #current: NodeHttpTap | undefined;

  /** Every socket's close listener; `this` is the socket. */
  static #onSocketClose(this: object): void {
    try {
      const current = NodeHttpTap.#current;
      if (current !== undefined) current.#socketClosed(this);
    } catch (error) {
      reportSkipped('socket close', error);
    }
  }

  constructor(registry: OriginRegistry) {
    this.#registry = registry;
    this.#ignored = new RequestRecord(this, {}, undefined, undefined, -1, false);
    this.#ignored.ended = this.#ignored.released = true;
    // A listener that throws would throw out of Node's `emit`, into the app: each catches its own.
    const requests = this.#requests;
    const sockets = this.#sockets;
    const tap = this;
    this.#onRequestSocket = function onRequestSocket(this: object, socket: unknown) {
      try {
        const record = requests.get(this);
        if (record !== undefined) tap.#requestSocket(record, socket);
      } catch (error) {
        reportSkipped('request socket', error);
      }
    };
    this.#onRequestClose = function onRequestClose(this: object) {
      try {
        const record = requests.get(this);
        if (record !== undefined) tap.#end(record, true, performance.now());
      } catch (error) {
        reportSkipped('request close', error);
      }
    };
    // Reading the slot and setting a number cannot throw.
    this.#onLookup = function onLookup(this: object) { const r = sockets.get(this); if (r !== undefined) r.lookupAt = performance.now(); };
    this.#onConnect = function onConnect(this: object) {
      try {
        const record = sockets.get(this);
        if (record === undefined) return;
        if (record.secure) record.connectAt = performance.now();
        else tap.#connected(record, this as HttpSocket);
      } catch (error) {
        reportSkipped('socket connect', error);
      }
    };
    this.#onSecureConnect = function onSecureConnect(this: object) {
      try {
        const record = sockets.get(this);
        if (record !== undefined) tap.#connected(record, this as HttpSocket);
      } catch (error) {
        reportSkipped('socket secureConnect', error);
      }
    };
  }

  enable(): void {
    if (this.#enabled) return;
    this.#enabled = true;
    NodeHttpTap.#current = this;
    // One function per channel, each catching its own throw: see the undici tap.
    const handlers: Record<TappedChannel, diagnosticsChannel.ChannelListener> = {
      'net.client.socket': (m) => { try { this.#netSocket(m as SocketMessage); } catch (error) { reportSkipped('net.client.socket', error); } },
      'http.client.request.created': (m) => { try { this.#requestCreated(m as RequestMessage); } catch (error) { reportSkipped('http.client.request.created', error); } },
      'http.client.request.start': (m) => { try { this.#requestStarted(m as RequestMessage); } catch (error) { reportSkipped('http.client.request.start', error); } },
      'http.client.response.finish': (m) => { try { this.#responseHeaders(m as RequestMessage); } catch (error) { reportSkipped('http.client.response.finish', error); } },
      'http.client.request.error': (m) => { try { this.#requestFailed(m as RequestMessage); } catch (error) { reportSkipped('http.client.request.error', error); } },
    };
    for (const name of TAPPED_CHANNELS) {
      diagnosticsChannel.subscribe(name, handlers[name]);
      this.#subscriptions.push([name, handlers[name]]);
    }
  }

  /**
   * Undoes exactly what `enable()` did. Requests and sockets in flight keep their listeners, which
   * report to this tap's registry until they end: no figure of the next tap is counted twice.
   */
  disable(): void {
    this.#enabled = false;
    if (NodeHttpTap.#current === this) NodeHttpTap.#current = undefined;
    for (const [name, handler] of this.#subscriptions) diagnosticsChannel.unsubscribe(name, handler);
    this.#subscriptions.length = 0;
    this.#announced = undefined;
  }

  /** Any client socket `net` creates: undici's, a database's, an Agent's. Only remembered for this run. */
  #netSocket({ socket }: SocketMessage): void {
    if (!isObject(socket)) return;
    if (this.#announced === undefined) queueMicrotask(this.#forgetAnnounced);
    this.#announced = socket;
    this.#announcedAt = performance.now();
  }

  #requestCreated({ request }: RequestMessage): void {
    if (!isObject(request)) return;
    const record = this.#follow(request as HttpRequest, true);
    const announced = this.#announced;
    if (record === undefined || announced === undefined || !ownsSocket(announced as HttpSocket, request)) return;
    // The socket its Agent just created for it: followed from its start, whatever becomes of the request.
    this.#announced = undefined;
    this.#followSocket(announced as HttpSocket, record, this.#announcedAt, false);
  }

  /** A request created before poolscope was listening is followed from its start on, uncounted. */
  #requestStarted({ request }: RequestMessage): void {
    if (!isObject(request) || this.#requests.get(request) !== undefined) return;
    const record = this.#follow(request as HttpRequest, false);
    const { socket } = request as HttpRequest;
    if (record !== undefined && isObject(socket)) this.#requestSocket(record, socket);
  }

  /**
   * Starts following a request: its origin, its Agent, its creation, and listeners for its socket
   * and its close. Undefined for one the tap does not follow (a Unix socket, another scheme,
   * poolscope's own), which is stamped as ignored.
   */
  #follow(request: HttpRequest, counted: boolean): RequestRecord | undefined {
    const { protocol, host, socketPath, agent } = request;
    const pool = isObject(agent) ? agent : undefined;
    const followed = (protocol === 'http:' || protocol === 'https:') && typeof host === 'string' &&
      (socketPath === undefined || socketPath === null) && typeof request.on === 'function' &&
      (pool === undefined || (pool as Record<symbol, unknown>)[OWN_AGENT] !== true);
    const authority = followed ? authorityOf(request, host) : undefined;
    const origin = authority === undefined ? undefined : this.#registry.lookupAuthority(protocol as string, authority);
    // An authority that names no origin (a host no URL accepts) is not followed either.
    if (!followed || (authority !== undefined && origin === undefined)) {
      const replaced = this.#requests.replace(request, this.#ignored);
      if (replaced?.owner === this) this.#requests.replace(request, replaced as RequestRecord);
      return undefined;
    }
    const record = new RequestRecord(this, request, origin, pool, performance.now(), counted && origin !== undefined);
    const replaced = this.#requests.replace(request, record);
    if (replaced?.owner === this) {
      // Node creates a request once: a second `created` for it is a made-up payload.
      this.#requests.replace(request, replaced as RequestRecord);
      return undefined;
    }
    const listenable = request as { on(event: string, listener: (this: object, ...args: never[]) => void): unknown };
    listenable.on('socket', this.#onRequestSocket);
    listenable.on('close', this.#onRequestClose);
    if (record.counted) origin!.requestStarted();
    return record;
  }

  /**
   * Starts following a socket until it closes: from `startedAt`, when `net` created it, or from
   * now (-1), connected already (`ready`) or still connecting.
   */
  #followSocket(socket: HttpSocket, request: RequestRecord, startedAt: number, ready: boolean): SocketRecord | undefined {
    if (typeof socket.on !== 'function') return undefined;
    const { host, protocol } = request.request as { host: string; protocol: string };
    const secure = socket.encrypted === true;
    const record = new SocketRecord(this, request.origin, host, protocol, startedAt, secure);
    const replaced = this.#sockets.replace(socket, record) as SocketRecord | undefined;
    if (replaced?.owner === this) {
      // `net` announces a socket once, at its creation: one followed already is a made-up payload's.
      this.#sockets.replace(socket, replaced);
      return undefined;
    }
    record.closeFollowed = replaced?.closeFollowed === true;
    // Ahead of Node's own: Node fails the request in flight from its close listener, and a socket
    // that closed under a request must be seen closing `active`. `close` fires once: no `once`.
    if (!record.closeFollowed) {
      if (typeof socket.prependListener === 'function') socket.prependListener('close', NodeHttpTap.#onSocketClose);
      else socket.on('close', NodeHttpTap.#onSocketClose);
      record.closeFollowed = true;
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

  /** The request's `socket` event: the Agent handed it a socket, new, reused or just freed. */
  #requestSocket(record: RequestRecord, value: unknown): void {
    if (record.socket !== undefined || record.released || !isObject(value)) return;
    const socket = value as HttpSocket;
    const now = performance.now();
    let socketRecord = this.#sockets.get(socket);
    if (socketRecord === undefined) {
      // Not created in its request's constructor: a queued request's new socket (created in this
      // run, when another closed), a custom `createConnection`'s, a TLS socket on a Node that does
      // not announce those, or one connected before poolscope was listening.
      const announced = socket === this.#announced;
      if (announced) this.#announced = undefined;
      const ready = !announced && isReady(socket);
      socketRecord = this.#followSocket(socket, record, announced ? this.#announcedAt : -1, ready);
      if (socketRecord === undefined) return;
      if (ready) {
        const origin = socketRecord.origin ?? this.#originOfSocket(socketRecord, socket);
        if (origin === undefined) return;
        socketRecord.origin = origin;
        socketRecord.connection = origin.openConnection(HTTP_1_1, true, -1, now);
      }
    }
    record.socket = socketRecord;
    socketRecord.request = record;
    if (socketRecord.connection !== undefined) this.#sent(record, socketRecord.connection, now);
  }

  /** The socket connected (TCP for http, TLS for https): it is open, and its request goes out. */
  #connected(record: SocketRecord, socket: HttpSocket): void {
    if (record.connection !== undefined) return;
    const origin = record.origin ?? this.#originOfSocket(record, socket);
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
    if (waiting !== undefined && waiting.connection === undefined && !waiting.ended) this.#sent(waiting, connection, now);
  }

  /** The request holds a connected socket: it is sent, and its time in queue ends. */
  #sent(record: RequestRecord, connection: Connection, now: number): void {
    let origin = record.origin;
    if (origin === undefined) {
      // Its origin is its socket's; it is counted as active from now.
      origin = record.origin = connection.origin;
      record.counted = true;
      origin.requestStarted();
    }
    if (!connection.joined) connection.origin.joinPool(connection, record.pool, record.pool !== undefined, now);
    const reused = connection.requests > 0 || connection.adopted;
    const idleSeconds = reused && connection.inFlight === 0 ? (now - connection.idleSince) / 1000 : -1;
    connection.requests++;
    record.connection = connection;
    record.reused = reused;
    origin.requestSent(connection, reused, idleSeconds, (now - record.startedAt) / 1000, now);
  }

  /** `response.finish` is published when the response's headers are parsed: the first byte. */
  #responseHeaders({ request }: RequestMessage): void {
    if (!isObject(request)) return;
    const record = this.#requests.get(request);
    if (record === undefined || record.firstByteSeen || record.connection === undefined) return;
    record.firstByteSeen = true;
    record.origin!.timeToFirstByte[record.reused ? 1 : 0].record((performance.now() - record.startedAt) / 1000);
  }

  /**
   * The request failed: it leaves `active_requests` now. Its socket, which Node destroys, stays
   * busy with it until it closes (closed `active`) or the request's `close` comes first.
   */
  #requestFailed({ request }: RequestMessage): void {
    if (!isObject(request)) return;
    const record = this.#requests.get(request);
    if (record !== undefined) this.#end(record, false, -1);
  }

  /**
   * The request ended: it leaves `active_requests`, and with `release` its socket, which may
   * become idle. An upgraded request's socket is the app's from then on: busy until it closes.
   */
  #end(record: RequestRecord, release: boolean, now: number): void {
    const leaving = !record.ended;
    record.ended = true;
    let connection: Connection | undefined;
    if (release && !record.released) {
      record.released = true;
      const socket = record.socket;
      if (socket !== undefined && socket.request === record) socket.request = undefined;
      if (record.request.upgradeOrConnect !== true) connection = record.connection;
    }
    const origin = record.origin;
    if (origin !== undefined && (leaving || connection !== undefined)) origin.requestEnded(leaving && record.counted, connection, now);
  }

  /**
   * A followed socket closed. One that never connected is a failed connection attempt when it
   * ended on an error other than the app's abort. One whose request already had its whole
   * response (`Connection: close`, an Agent without keep-alive) closes idle.
   */
  #socketClosed(socket: object): void {
    const record = this.#sockets.get(socket);
    if (record === undefined) return;
    const connection = record.connection;
    if (connection === undefined) {
      const error = (socket as HttpSocket).errored;
      if (record.origin === undefined || !isObject(error)) return;
      const type = errorType(error);
      if (type !== 'ABORT_ERR') record.origin.connectionFailed(type);
      return;
    }
    if (connection.closedAt >= 0) return;
    const now = performance.now();
    const current = record.request;
    if (current !== undefined && current.request.res?.complete === true) this.#end(current, true, now);
    connection.origin.closeConnection(connection, now);
  }

  /** The origin of a socket whose first request could not tell it: its host and remote port. */
  #originOfSocket(record: SocketRecord, socket: HttpSocket): OriginStats | undefined {
    const port = socket.remotePort;
    if (typeof port !== 'number') return undefined;
    const host = isIPv6(record.host) ? `[${record.host}]` : record.host;
    return this.#registry.lookupAuthority(record.protocol, `${host}:${port}`);
  }
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
