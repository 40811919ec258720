import diagnosticsChannel from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import type { OriginRegistry } from '../../state/origin-registry.js';
import type { Connection } from '../../state/connection.js';
import type { OriginStats } from '../../state/origin-stats.js';
import { clearHandoff, handoff } from './dispatch-timing.js';
import type { GlobalDispatcherWatch } from './global-dispatcher.js';
import { requestSlot, socketSlot } from '../object-slot.js';
import { errorType, isObject, reportSkipped, resolves } from '../payloads.js';
import { poolOf } from './pool-identity.js';
import { RequestRecord, SocketRecord } from './records.js';

/** Payloads as undici publishes them; every field is checked before use. */
interface RequestMessage { readonly request?: unknown }
interface SendHeadersMessage { readonly request?: unknown; readonly socket?: unknown }
interface ConnectMessage {
  readonly connectParams?: { readonly protocol?: unknown; readonly host?: unknown; readonly hostname?: unknown; readonly version?: unknown };
  readonly connector?: unknown;
  readonly socket?: unknown;
  readonly error?: { readonly code?: unknown; readonly name?: unknown };
}
interface UndiciRequest {
  readonly origin?: unknown;
  readonly method?: unknown;
  readonly upgrade?: unknown;
}
interface SocketMessage { readonly socket?: unknown }
interface Listenable {
  on(event: string, listener: (this: object) => void): unknown;
  prependListener?(event: string, listener: (this: object) => void): unknown;
}

/** The diagnostics channels the tap subscribes to. */
export const TAPPED_CHANNELS = [
  'undici:request:create', 'undici:client:beforeConnect', 'net.client.socket', 'undici:client:connected',
  'undici:client:connectError', 'undici:client:sendHeaders', 'undici:request:headers', 'undici:request:trailers',
  'undici:request:error',
] as const;
type TappedChannel = typeof TAPPED_CHANNELS[number];

/** Connection attempts remembered per connector before the oldest are dropped. */
const MAX_PENDING_ATTEMPTS = 64;
/** Stands in for a connector that is not an object, so attempts still pair up. */
const ANONYMOUS_CONNECTOR = {};

/**
 * Subscribes to undici's diagnostics channels and turns their events into per-origin state.
 * The channel names are process-global, so one subscription sees Node's built-in `fetch` and
 * every copy of the undici package at once.
 */
export class UndiciTap {
  readonly #registry: OriginRegistry;
  readonly #globalDispatcher: GlobalDispatcherWatch | undefined;
  readonly #requests = requestSlot<RequestRecord>(this);
  readonly #sockets = socketSlot<SocketRecord>(this);
  /**
   * Start times of connection attempts no socket was seen for (a connector of the app's own),
   * oldest first, per connector. Attempts through `net` never wait here: their socket carries them.
   */
  readonly #unseenAttempts = new WeakMap<object, number[]>();
  /**
   * The attempt undici announced and has not handed a socket for yet. Node publishes
   * `net.client.socket` for the socket undici's connector creates synchronously after
   * `beforeConnect`; a microtask later any other socket is somebody else's.
   */
  #announced: SocketRecord | undefined;
  readonly #forgetAnnounced = (): void => {
    try {
      this.#settleAnnounced();
    } catch (error) {
      reportSkipped('undici:client:beforeConnect', error);
    }
  };
  readonly #subscriptions: Array<[string, diagnosticsChannel.ChannelListener]> = [];
  /** Socket listeners for the ends of DNS and of TCP before TLS; `this` is the socket. */
  readonly #onLookup: (this: object) => void;
  readonly #onConnect: (this: object) => void;
  #enabled = false;

  /**
   * The enabled tap. A socket gets one close listener for the life of the process, which reports
   * to whichever tap is enabled when it closes: restarting poolscope must not pile listeners onto
   * long-lived sockets.
   */
  static #current: UndiciTap | undefined;

  /** Every socket's close listener; `this` is the socket. */
  static #onSocketClose(this: object): void {
    try {
      const current = UndiciTap.#current;
      if (current !== undefined) current.#socketClosed(this);
    } catch (error) {
      reportSkipped('socket close', error);
    }
  }

  /** `globalDispatcher`: looked at as each request is created, before the request is counted. */
  constructor(registry: OriginRegistry, globalDispatcher?: GlobalDispatcherWatch) {
    this.#registry = registry;
    this.#globalDispatcher = globalDispatcher;
    // Shared by every socket; reading the slot and setting a number cannot throw.
    const sockets = this.#sockets;
    this.#onLookup = function onLookup(this: object) { const r = sockets.get(this); if (r !== undefined) r.lookupAt = performance.now(); };
    this.#onConnect = function onConnect(this: object) { const r = sockets.get(this); if (r !== undefined) r.connectAt = performance.now(); };
  }

  enable(): void {
    if (this.#enabled) return;
    this.#enabled = true;
    UndiciTap.#current = this;
    // A subscriber's throw would reach the app as an uncaught exception: each handler catches its
    // own. One function per channel, not one wrapper calling nine: V8 cannot inline a call with
    // nine targets, and that call was ~230 instructions of a keep-alive request (callgrind).
    const handlers: Record<TappedChannel, diagnosticsChannel.ChannelListener> = {
      'undici:request:create': (m) => {
        this.#globalDispatcher?.check();
        try { this.#requestCreated(m as RequestMessage); } catch (error) { reportSkipped('undici:request:create', error); }
      },
      'undici:client:beforeConnect': (m) => { try { this.#beforeConnect(m as ConnectMessage); } catch (error) { reportSkipped('undici:client:beforeConnect', error); } },
      'net.client.socket': (m) => { try { this.#netSocket(m as SocketMessage); } catch (error) { reportSkipped('net.client.socket', error); } },
      'undici:client:connected': (m) => { try { this.#connected(m as ConnectMessage); } catch (error) { reportSkipped('undici:client:connected', error); } },
      'undici:client:connectError': (m) => { try { this.#connectError(m as ConnectMessage); } catch (error) { reportSkipped('undici:client:connectError', error); } },
      'undici:client:sendHeaders': (m) => { try { this.#headersSent(m as SendHeadersMessage); } catch (error) { reportSkipped('undici:client:sendHeaders', error); } },
      'undici:request:headers': (m) => { try { this.#responseHeaders(m as RequestMessage); } catch (error) { reportSkipped('undici:request:headers', error); } },
      'undici:request:trailers': (m) => { try { this.#requestEnded(m as RequestMessage); } catch (error) { reportSkipped('undici:request:trailers', error); } },
      'undici:request:error': (m) => { try { this.#requestFailed(m as RequestMessage); } catch (error) { reportSkipped('undici:request:error', error); } },
    };
    for (const name of TAPPED_CHANNELS) {
      diagnosticsChannel.subscribe(name, handlers[name]);
      this.#subscriptions.push([name, handlers[name]]);
    }
  }

  /** Undoes exactly what `enable()` did. */
  disable(): void {
    this.#enabled = false;
    if (UndiciTap.#current === this) UndiciTap.#current = undefined;
    for (const [name, handler] of this.#subscriptions) diagnosticsChannel.unsubscribe(name, handler);
    this.#subscriptions.length = 0;
  }

  #requestCreated({ request }: RequestMessage): void {
    if (!isObject(request)) return;
    const { method, upgrade } = request as UndiciRequest;
    const origin = this.#originOfRequest(request as UndiciRequest);
    if (origin === undefined) return;
    const isUpgrade = (typeof upgrade === 'string' && upgrade !== '') || method === 'CONNECT';
    // Within an instrumented dispatch the time is known: one clock read fewer per request.
    const dispatching = handoff.dispatching ?? -1;
    const createdAt = dispatching >= 0 ? dispatching : performance.now();
    if (!this.#requests.claim(request, new RequestRecord(this, origin, createdAt, !isUpgrade, isUpgrade))) return;
    if (!isUpgrade) origin.requestStarted();
  }

  #beforeConnect({ connectParams, connector }: ConnectMessage): void {
    const now = performance.now();
    if (this.#announced === undefined) queueMicrotask(this.#forgetAnnounced);
    else this.#settleAnnounced();
    const params = isObject(connectParams) ? connectParams : undefined;
    this.#announced = new SocketRecord(this, connector, now, params?.protocol === 'https:', resolves(params?.hostname));
  }

  /** The announced attempt got no socket in its run: its start waits for its connector's outcome. */
  #settleAnnounced(): void {
    const announced = this.#announced;
    if (announced === undefined) return;
    this.#announced = undefined;
    const key = isObject(announced.connector) ? announced.connector : ANONYMOUS_CONNECTOR;
    let pending = this.#unseenAttempts.get(key);
    if (pending === undefined) {
      pending = [];
      this.#unseenAttempts.set(key, pending);
    } else if (pending.length >= MAX_PENDING_ATTEMPTS) {
      // Attempts undici abandoned without an outcome (client destroyed mid-connect).
      pending.shift();
    }
    pending.push(announced.startedAt);
  }

  #netSocket({ socket }: SocketMessage): void {
    const announced = this.#announced;
    if (announced === undefined || !isObject(socket) || typeof (socket as Partial<Listenable>).on !== 'function') return;
    this.#stamp(socket, announced);
    this.#announced = undefined;
    // `on`, not `once`: each fires once per socket, and `once` allocates a wrapper per listener.
    // None for an address: a listener is a new key on the socket's events object, ~2 µs when
    // the caches are cold (bench/replay.mjs), for an event that never comes.
    if (announced.resolves) (socket as Listenable).on('lookup', this.#onLookup);
    if (announced.secure) (socket as Listenable).on('connect', this.#onConnect);
  }

  /**
   * The start of the attempt behind a connect outcome whose socket did not carry it: the one
   * still announced (a connector that answered in the same run), else the oldest waiting for
   * this connector; -1 when none was seen.
   */
  #takeUnseenAttempt(connector: unknown): number {
    const announced = this.#announced;
    if (announced !== undefined && announced.connector === connector) {
      this.#announced = undefined;
      return announced.startedAt;
    }
    const pending = this.#unseenAttempts.get(isObject(connector) ? connector : ANONYMOUS_CONNECTOR);
    return pending?.shift() ?? -1;
  }

  #connected({ connectParams, connector, socket }: ConnectMessage): void {
    // The socket's own record pairs exactly; attempts no socket was seen for pair by connector.
    const record = isObject(socket) ? this.#sockets.get(socket) : undefined;
    if (record?.connection !== undefined) return;
    const startedAt = record === undefined ? this.#takeUnseenAttempt(connector) : record.startedAt;
    if (!isObject(socket)) return;
    const origin = this.#originOfConnect(connectParams);
    if (origin === undefined) return;
    const now = performance.now();
    const setupSeconds = startedAt < 0 ? -1 : (now - startedAt) / 1000;
    const version = connectParams?.version === 'h2' ? '2' : '1.1';
    const connection = this.#track(socket, record, origin, version, connector, false, setupSeconds, now);
    if (connection === undefined || record === undefined) return;
    // The last phase ends now: undici publishes `connected` from its own `connect` or
    // `secureConnect` listener, a microtask later.
    const tcpFrom = record.lookupAt >= 0 ? record.lookupAt : record.startedAt;
    const dnsSeconds = record.lookupAt >= 0 ? (record.lookupAt - record.startedAt) / 1000 : -1;
    if (!record.secure) origin.phasesMeasured(dnsSeconds, (now - tcpFrom) / 1000, -1);
    else if (record.connectAt >= 0) origin.phasesMeasured(dnsSeconds, (record.connectAt - tcpFrom) / 1000, (now - record.connectAt) / 1000);
  }

  #connectError({ connectParams, connector, error }: ConnectMessage): void {
    // undici names no socket here. A connector that goes through `net` never has attempts waiting.
    this.#takeUnseenAttempt(connector);
    const origin = this.#originOfConnect(connectParams);
    if (origin === undefined) return;
    origin.connectionFailed(errorType(error));
  }

  #headersSent({ request, socket }: SendHeadersMessage): void {
    if (!isObject(request) || !isObject(socket)) return;
    // Within the app's dispatch call nothing waited since it began: one clock read fewer. The same
    // two lines as at creation, not a shared function: V8 left such a call out of line and boxed
    // the number it returned, 14-31 bytes per request (e2e callgrind).
    const dispatching = handoff.dispatching ?? -1;
    const now = dispatching >= 0 ? dispatching : performance.now();
    const record = this.#requests.get(request) ?? this.#adoptRequest(request, now);
    // The interceptor's stamp for this request, left during this same synchronous write.
    const { dispatchedAt, dispatcher } = handoff;
    clearHandoff();
    if (record === undefined || record.socket !== undefined) return;
    const socketRecord = this.#sockets.get(socket);
    const connection = socketRecord?.connection ?? this.#track(socket, socketRecord, record.origin, versionOf(socket), undefined, true, -1, now);
    if (connection === undefined) return;
    if (dispatchedAt >= 0 && dispatchedAt <= record.startedAt) record.startedAt = dispatchedAt;
    if (!connection.joined) {
      // undici's Pool only when the interceptor did not name the dispatcher: finding it walks
      // undici's internals, ~1 µs a socket when the caches are cold (bench/replay.mjs).
      const known = dispatcher !== undefined;
      connection.origin.joinPool(connection, known ? dispatcher : this.#poolOf(socket, socketRecord?.connector), known, now);
    }
    const reused = connection.requests > 0 || connection.adopted;
    const idleSeconds = reused && connection.inFlight === 0 ? (now - connection.idleSince) / 1000 : -1;
    connection.requests++;
    record.socket = connection;
    record.reused = reused;
    record.origin.requestSent(connection, reused, idleSeconds, (now - record.startedAt) / 1000, now);
  }

  /** A record for a request created before poolscope was listening, or undefined. */
  #adoptRequest(request: object, now: number): RequestRecord | undefined {
    const origin = this.#originOfRequest(request as UndiciRequest);
    if (origin === undefined) return undefined;
    const record = new RequestRecord(this, origin, now, false, false);
    this.#requests.set(request, record);
    return record;
  }

  #responseHeaders({ request }: RequestMessage): void {
    if (!isObject(request)) return;
    const record = this.#requests.get(request);
    if (record === undefined || record.firstByteSeen || record.socket === undefined) return;
    record.firstByteSeen = true;
    const seconds = (performance.now() - record.startedAt) / 1000;
    record.origin.timeToFirstByte[record.reused ? 1 : 0].record(seconds);
  }

  #requestFailed(message: RequestMessage): void {
    // A request that failed between its start and its headers leaves no stamp for the next.
    clearHandoff();
    this.#requestEnded(message);
  }

  #requestEnded({ request }: RequestMessage): void {
    if (!isObject(request)) return;
    const record = this.#requests.get(request);
    // undici may publish an error after the trailers when the app's handler throws.
    if (record === undefined || record.ended) return;
    record.ended = true;
    // An upgrade's socket stays busy with the app until it closes.
    const connection = record.upgrade ? undefined : record.socket;
    record.origin.requestEnded(record.counted, connection, connection === undefined ? -1 : performance.now());
  }

  #socketClosed(socket: object): void {
    const connection = this.#sockets.get(socket)?.connection;
    if (connection === undefined || connection.closedAt >= 0) return;
    connection.origin.closeConnection(connection, performance.now());
  }

  /**
   * Starts following a socket until it closes, or gives undefined for one that cannot be
   * followed. `adopted`: it connected before poolscope was listening, so it is never counted
   * as opened and its first request seen counts as reused.
   */
  #track(
    socket: object, record: SocketRecord | undefined, origin: OriginStats, version: string, connector: unknown,
    adopted: boolean, setupSeconds: number, now: number,
  ): Connection | undefined {
    if (typeof (socket as Partial<Listenable>).on !== 'function') return undefined;
    const followed = record ?? this.#stamp(socket, new SocketRecord(this, connector, -1, false, false));
    // The listener first: if the socket refuses it, nothing was recorded. Ahead of undici's own:
    // undici fails the requests in flight from its close listener, and a socket that closed
    // under a request (reset, timeout) must be seen closing `active`.
    if (!followed.closeFollowed) {
      const listenable = socket as Listenable;
      // `close` fires once: a plain listener, without the wrapper `once` allocates.
      if (typeof listenable.prependListener === 'function') listenable.prependListener('close', UndiciTap.#onSocketClose);
      else listenable.on('close', UndiciTap.#onSocketClose);
      followed.closeFollowed = true;
    }
    const connection = origin.openConnection(version, adopted, setupSeconds, now);
    followed.connection = connection;
    return connection;
  }

  /**
   * Puts `record` on the socket: where its attempt was announced, or at its first sight (it
   * connected before poolscope was listening, or through a connector of the app's). A record an
   * earlier tap left tells whether the socket already has the close listener.
   */
  #stamp(socket: object, record: SocketRecord): SocketRecord {
    const replaced = this.#sockets.replace(socket, record) as SocketRecord | undefined;
    record.closeFollowed = replaced?.closeFollowed === true;
    return record;
  }

  #poolOf(socket: object, connector: unknown): object | undefined {
    try {
      return poolOf(socket, connector);
    } catch (error) {
      // An undici whose internals differ: pools are unknown, everything else is counted.
      reportSkipped('pool identity', error);
      return undefined;
    }
  }

  #originOfRequest(request: UndiciRequest): OriginStats | undefined {
    const origin = request.origin;
    if (typeof origin === 'string') return this.#registry.lookup(origin);
    if (origin instanceof URL) return this.#registry.lookup(origin.origin);
    return undefined;
  }

  #originOfConnect(params: ConnectMessage['connectParams']): OriginStats | undefined {
    if (!isObject(params)) return undefined;
    const { protocol, host } = params;
    if (typeof protocol !== 'string' || typeof host !== 'string') return undefined;
    return this.#registry.lookup(`${protocol}//${host}`);
  }
}

/** `network.protocol.version` of a socket that connected before poolscope was listening. */
function versionOf(socket: object): string {
  return (socket as { alpnProtocol?: unknown }).alpnProtocol === 'h2' ? '2' : '1.1';
}
