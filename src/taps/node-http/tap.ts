import diagnosticsChannel from 'node:diagnostics_channel';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { OriginRegistry } from '../../state/origin-registry.js';
import type { Connection } from '../../state/connection.js';
import type { OriginStats } from '../../state/origin-stats.js';
import { requestSlot, socketSlot } from '../object-slot.js';
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
  'net.client.socket', 'http.client.request.created', 'http.client.response.finish', 'http.client.request.error',
] as const;
type TappedChannel = typeof TAPPED_CHANNELS[number];

/**
 * Follows node:http and node:https clients (`http.Agent` pools) from Node's diagnostics channels
 * and the events of the sockets they name, into per-origin state. Nothing of Node's is patched:
 * the tap listens to events, none of which changes how Node or the app handle them.
 *
 * A request is followed from `created` (the end of its constructor), where its Agent has done one
 * of three things with it, and the tap follows it by the cheapest events that tell:
 * - made it a new socket: the two are linked at once;
 * - handed it a free socket (`reusedSocket`), which it takes in Node's next tick: the tap links
 *   them in the tick after, or ends the request if the app dropped it meanwhile;
 * - queued it: its own `socket` and `close` events tell when it leaves the queue and ends.
 * Listeners on every request would cost a keep-alive request more than everything else the tap
 * does (BENCHMARKS.md): a socket's `free`, `close` and `agentRemove` events, listened to once per
 * socket, end the requests it carries instead, and `http.client.request.error` those that fail.
 *
 * A request is sent, and its time in queue ends, once it holds a connected socket: when it takes
 * one that is connected, else when the socket connects (TCP, and TLS for https). Reuse is the
 * socket's own count of requests, not `req.reusedSocket`, which a queued request handed a freed
 * socket never gets.
 */
export class NodeHttpTap {
  readonly #registry: OriginRegistry;
  /** Records on requests, under a symbol: see object-slot.ts, and `RequestRecord` for how it shows in logs. */
  readonly #requests = requestSlot<RequestRecord>(this);
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
  /** In the tick after `created`, for a request its Agent handed a free socket (see `#takeHandedSocket()`). */
  readonly #onHandedSocket: (record: RequestRecord) => void;
  /** Listeners on requests and sockets, made once per tap; `this` is the request or the socket. */
  readonly #onRequestSocket: (this: object, socket: unknown) => void;
  readonly #onRequestClose: (this: object) => void;
  readonly #onLookup: (this: object) => void;
  readonly #onConnect: (this: object) => void;
  readonly #onSecureConnect: (this: object) => void;
  #enabled = false;

  /**
   * The enabled tap. A socket gets its `close`, `free` and `agentRemove` listeners once for the
   * life of the process, which report to whichever tap is enabled then: restarting poolscope must
   * not pile listeners onto long-lived sockets.
   */
  static #current: NodeHttpTap | undefined;

  /** Every socket's listeners for its life; `this` is the socket. */
  static #onSocketClose(this: object): void {
    try {
      const current = NodeHttpTap.#current;
      if (current !== undefined) current.#socketClosed(this);
    } catch (error) {
      reportSkipped('socket close', error);
    }
  }

  static #onSocketFree(this: object): void {
    try {
      const current = NodeHttpTap.#current;
      if (current !== undefined) current.#socketFreed(this);
    } catch (error) {
      reportSkipped('socket free', error);
    }
  }

  static #onSocketRemoved(this: object): void {
    try {
      const current = NodeHttpTap.#current;
      if (current !== undefined) current.#socketRemoved(this);
    } catch (error) {
      reportSkipped('socket agentRemove', error);
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
    this.#onHandedSocket = (record) => {
      try {
        this.#takeHandedSocket(record);
      } catch (error) {
        reportSkipped('handed socket', error);
      }
    };
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
    const record = this.#follow(request as HttpRequest);
    if (record === undefined) return;
    const announced = this.#announced;
    if (announced !== undefined && ownsSocket(announced as HttpSocket, request)) {
      // The socket its Agent just created for it: followed from its start, whatever becomes of the request.
      this.#announced = undefined;
      const socket = this.#followSocket(announced as HttpSocket, record, this.#announcedAt, false);
      if (socket !== undefined) this.#link(record, socket);
      else this.#listenToRequest(record);
    } else if ((request as HttpRequest).reusedSocket === true) {
      // Node takes the socket in a tick it queued before this one.
      process.nextTick(this.#onHandedSocket, record);
    } else {
      this.#listenToRequest(record);
    }
  }

  /**
   * The tick after `created` of a request its Agent handed a free socket: the request holds it
   * now, or the app dropped it before (`abort()` reports no error), and it ends. Its time in queue
   * and the socket's idle time end at its creation, when the Agent handed it over.
   */
  #takeHandedSocket(record: RequestRecord): void {
    const { socket, destroyed } = record.request;
    if (isObject(socket)) this.#requestSocket(record, socket, record.startedAt);
    else if (destroyed === true) this.#end(record, true, performance.now());
    else this.#listenToRequest(record);
  }

  /** A request whose socket is still to come: its own events tell when it has one, and when it ends. */
  #listenToRequest(record: RequestRecord): void {
    const listenable = record.request as { on(event: string, listener: (this: object, ...args: never[]) => void): unknown };
    listenable.on('socket', this.#onRequestSocket);
    listenable.on('close', this.#onRequestClose);
  }

  /**
   * Starts following a request: its origin, its Agent and its creation. Undefined for one the tap
   * does not follow (a Unix socket, another scheme, poolscope's own), which is stamped as ignored.
   */
  #follow(request: HttpRequest): RequestRecord | undefined {
    const { protocol, host, socketPath, agent } = request;
    const pool = isObject(agent) ? agent : undefined;
    const followed = (protocol === 'http:' || protocol === 'https:') && typeof host === 'string' &&
      (socketPath === undefined || socketPath === null) && typeof request.on === 'function' &&
      (pool === undefined || (pool as Record<symbol, unknown>)[OWN_AGENT] !== true);
    const authority = followed ? authorityOf(request, host) : undefined;
    const origin = authority === undefined ? undefined : this.#registry.lookupAuthority(protocol as string, authority);
    // An authority that names no origin (a host no URL accepts) is not followed either.
    if (!followed || (authority !== undefined && origin === undefined)) {
      this.#requests.claim(request, this.#ignored);
      return undefined;
    }
    const record = new RequestRecord(this, request, origin, pool, performance.now(), origin !== undefined);
    // Node creates a request once: a second `created` for it is a made-up payload.
    if (!this.#requests.claim(request, record)) return undefined;
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
    record.listened = replaced?.listened === true;
    if (!record.listened) {
      // `close` ahead of Node's own: Node fails the request in flight from its close listener, and
      // a socket that closed under a request must be seen closing `active`. It fires once: no `once`.
      if (typeof socket.prependListener === 'function') socket.prependListener('close', NodeHttpTap.#onSocketClose);
      else socket.on('close', NodeHttpTap.#onSocketClose);
      socket.on('free', NodeHttpTap.#onSocketFree);
      socket.on('agentRemove', NodeHttpTap.#onSocketRemoved);
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

  /**
   * The request took the socket its Agent handed it, new, reused or just freed: at `now`, or at
   * its creation for one handed over in its constructor.
   */
  #requestSocket(record: RequestRecord, value: unknown, now = performance.now()): void {
    if (record.socket !== undefined || record.released || !isObject(value)) return;
    const socket = value as HttpSocket;
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
    this.#link(record, socketRecord);
    if (socketRecord.connection !== undefined) this.#sent(record, socketRecord.connection, now);
  }

  /** The request holds the socket from now on, until it ends or the socket closes. */
  #link(record: RequestRecord, socket: SocketRecord): void {
    record.socket = socket;
    socket.request = record;
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
   * A followed socket closed, and the request it carried, if any, ended with it. One that never
   * connected is a failed connection attempt when it ended on an error other than the app's abort.
   * One whose request already had its whole response (`Connection: close`, an Agent without
   * keep-alive) closes idle: the request gives the socket back first.
   */
  #socketClosed(socket: object): void {
    const record = this.#sockets.get(socket);
    if (record === undefined) return;
    const now = performance.now();
    const current = record.request;
    if (current !== undefined) this.#end(current, current.request.res?.complete === true, now);
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
  #socketFreed(socket: object): void {
    const current = this.#sockets.get(socket)?.request;
    if (current !== undefined) this.#end(current, true, performance.now());
  }

  /**
   * The Agent gives a socket up: the request that carries it upgraded (or CONNECTed), and the
   * socket is the app's from now on, busy until it closes (see `#end()`).
   */
  #socketRemoved(socket: object): void {
    const current = this.#sockets.get(socket)?.request;
    if (current !== undefined && current.request.upgradeOrConnect === true) this.#end(current, true, performance.now());
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
