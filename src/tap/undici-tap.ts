import diagnosticsChannel from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import type { OriginRegistry } from '../state/origin-registry.js';
import type { OriginStats } from '../state/origin-stats.js';
import { warnOnce } from '../warn.js';

/** What poolscope remembers of one request while it is in flight. */
interface RequestRecord {
  readonly origin: OriginStats;
  readonly createdAt: number;
  /** Counted in `active_requests`: upgrades and CONNECT never publish an end, so they are not. */
  readonly counted: boolean;
  /** Upgrades hand their socket to the app, which keeps it busy until it closes. */
  readonly upgrade: boolean;
  socket: SocketRecord | undefined;
  reused: boolean;
  firstByteSeen: boolean;
  ended: boolean;
}

/** What poolscope remembers of one socket while it is open. */
interface SocketRecord {
  readonly origin: OriginStats;
  readonly openedAt: number;
  /** Opened before poolscope was listening: its first request did not pay for a setup we saw. */
  readonly adopted: boolean;
  requests: number;
  inFlight: number;
  idleSince: number;
  closed: boolean;
}

/** Payloads as undici publishes them; every field is checked before use. */
interface RequestMessage { readonly request?: unknown }
interface SendHeadersMessage { readonly request?: unknown; readonly socket?: unknown }
interface ConnectMessage {
  readonly connectParams?: { readonly protocol?: unknown; readonly host?: unknown; readonly version?: unknown };
  readonly connector?: unknown;
  readonly socket?: unknown;
  readonly error?: { readonly code?: unknown; readonly name?: unknown };
}
interface UndiciRequest {
  readonly origin?: unknown;
  readonly method?: unknown;
  readonly upgrade?: unknown;
}
interface Closable { once(event: 'close', listener: (this: object) => void): unknown }

/** Connection attempts remembered per connector before the oldest are dropped. */
const MAX_PENDING_ATTEMPTS = 64;
const ERROR_TYPE = /^[A-Za-z0-9_.:-]{1,64}$/;
/** Stands in for a connector that is not an object, so attempts still pair up. */
const ANONYMOUS_CONNECTOR = {};

function isObject(value: unknown): value is object {
  return (typeof value === 'object' || typeof value === 'function') && value !== null;
}

/**
 * Subscribes to undici's diagnostics channels and turns their events into per-origin state.
 * The channel names are process-global, so one subscription sees Node's built-in `fetch` and
 * every copy of the undici package at once.
 */
export class UndiciTap {
  readonly #registry: OriginRegistry;
  readonly #requests = new WeakMap<object, RequestRecord>();
  readonly #sockets = new WeakMap<object, SocketRecord>();
  /** Start times of connection attempts, oldest first, per connector. */
  readonly #attempts = new WeakMap<object, number[]>();
  readonly #subscriptions: Array<[string, (message: unknown, name: string | symbol) => void]> = [];
  readonly #onSocketClose: (this: object) => void;
  #enabled = false;

  constructor(registry: OriginRegistry) {
    this.#registry = registry;
    const tap = this;
    // One handler for every socket's close; `this` is the socket.
    this.#onSocketClose = function onSocketClose(this: object) {
      try {
        tap.#socketClosed(this);
      } catch (error) {
        reportSkipped('socket close', error);
      }
    };
  }

  enable(): void {
    if (this.#enabled) return;
    this.#enabled = true;
    this.#subscribe('undici:request:create', (m: RequestMessage) => this.#requestCreated(m));
    this.#subscribe('undici:client:beforeConnect', (m: ConnectMessage) => this.#beforeConnect(m));
    this.#subscribe('undici:client:connected', (m: ConnectMessage) => this.#connected(m));
    this.#subscribe('undici:client:connectError', (m: ConnectMessage) => this.#connectError(m));
    this.#subscribe('undici:client:sendHeaders', (m: SendHeadersMessage) => this.#headersSent(m));
    this.#subscribe('undici:request:headers', (m: RequestMessage) => this.#responseHeaders(m));
    this.#subscribe('undici:request:trailers', (m: RequestMessage) => this.#requestEnded(m));
    this.#subscribe('undici:request:error', (m: RequestMessage) => this.#requestEnded(m));
  }

  /** Undoes exactly what `enable()` did. */
  disable(): void {
    this.#enabled = false;
    for (const [name, handler] of this.#subscriptions) diagnosticsChannel.unsubscribe(name, handler);
    this.#subscriptions.length = 0;
  }

  #subscribe<M>(name: string, handle: (message: M) => void): void {
    // A subscriber's throw would reach the app as an uncaught exception: none may escape.
    const handler = (message: unknown): void => {
      try {
        handle(message as M);
      } catch (error) {
        reportSkipped(name, error);
      }
    };
    diagnosticsChannel.subscribe(name, handler);
    this.#subscriptions.push([name, handler]);
  }

  #requestCreated({ request }: RequestMessage): void {
    if (!isObject(request) || this.#requests.has(request)) return;
    const { method, upgrade } = request as UndiciRequest;
    const origin = this.#originOfRequest(request as UndiciRequest);
    if (origin === undefined) return;
    const isUpgrade = (typeof upgrade === 'string' && upgrade !== '') || method === 'CONNECT';
    this.#requests.set(request, newRequestRecord(origin, performance.now(), !isUpgrade, isUpgrade));
    if (!isUpgrade) origin.requestStarted();
  }

  #beforeConnect({ connector }: ConnectMessage): void {
    const key = isObject(connector) ? connector : ANONYMOUS_CONNECTOR;
    let pending = this.#attempts.get(key);
    if (pending === undefined) {
      pending = [];
      this.#attempts.set(key, pending);
    } else if (pending.length >= MAX_PENDING_ATTEMPTS) {
      // Attempts undici abandoned without an outcome (client destroyed mid-connect).
      pending.shift();
    }
    pending.push(performance.now());
  }

  /** The start of the oldest attempt through this connector, or -1 when none was seen. */
  #takeAttempt(connector: unknown): number {
    const pending = this.#attempts.get(isObject(connector) ? connector : ANONYMOUS_CONNECTOR);
    return pending?.shift() ?? -1;
  }

  #connected({ connectParams, connector, socket }: ConnectMessage): void {
    const startedAt = this.#takeAttempt(connector);
    if (!isObject(socket) || this.#sockets.has(socket)) return;
    const origin = this.#originOfConnect(connectParams);
    if (origin === undefined) return;
    const connection = this.#track(socket, origin, false);
    if (connection === undefined) return;
    const version = connectParams?.version === 'h2' ? '2' : '1.1';
    origin.connectionOpened(version, startedAt < 0 ? -1 : (connection.openedAt - startedAt) / 1000);
  }

  #connectError({ connectParams, connector, error }: ConnectMessage): void {
    this.#takeAttempt(connector);
    const origin = this.#originOfConnect(connectParams);
    if (origin === undefined) return;
    origin.connectionFailed(errorType(error));
  }

  #headersSent({ request, socket }: SendHeadersMessage): void {
    if (!isObject(request) || !isObject(socket)) return;
    const now = performance.now();
    let record = this.#requests.get(request);
    if (record === undefined) {
      // Created before poolscope was listening.
      const origin = this.#originOfRequest(request as UndiciRequest);
      if (origin === undefined) return;
      record = newRequestRecord(origin, now, false, false);
      this.#requests.set(request, record);
    }
    if (record.socket !== undefined) return;
    const connection = this.#sockets.get(socket) ?? this.#track(socket, record.origin, true);
    if (connection === undefined) return;
    const reused = connection.requests > 0 || connection.adopted;
    const idleSeconds = reused && connection.inFlight === 0 ? (now - connection.idleSince) / 1000 : -1;
    connection.requests++;
    if (connection.inFlight++ === 0 && !connection.closed) connection.origin.socketBusy();
    record.socket = connection;
    record.reused = reused;
    record.origin.requestSent(reused, idleSeconds, now);
  }

  #responseHeaders({ request }: RequestMessage): void {
    if (!isObject(request)) return;
    const record = this.#requests.get(request);
    if (record === undefined || record.firstByteSeen || record.socket === undefined) return;
    record.firstByteSeen = true;
    const seconds = (performance.now() - record.createdAt) / 1000;
    record.origin.timeToFirstByte[record.reused ? 1 : 0].record(seconds);
  }

  #requestEnded({ request }: RequestMessage): void {
    if (!isObject(request)) return;
    const record = this.#requests.get(request);
    // undici may publish an error after the trailers when the app's handler throws.
    if (record === undefined || record.ended) return;
    record.ended = true;
    if (record.counted) record.origin.requestEnded();
    const connection = record.socket;
    if (connection === undefined || record.upgrade || connection.inFlight === 0) return;
    if (--connection.inFlight === 0) {
      connection.idleSince = performance.now();
      if (!connection.closed) connection.origin.socketIdle();
    }
  }

  #socketClosed(socket: object): void {
    const connection = this.#sockets.get(socket);
    if (connection === undefined || connection.closed) return;
    connection.closed = true;
    if (!this.#enabled) return;
    const lifetimeSeconds = (performance.now() - connection.openedAt) / 1000;
    connection.origin.connectionClosed(connection.inFlight > 0, lifetimeSeconds, connection.requests);
  }

  /**
   * Starts following a socket until it closes, or gives undefined for one that cannot be
   * followed. `adopted`: it connected before poolscope was listening, so it is never counted
   * as opened and its first request seen counts as reused.
   */
  #track(socket: object, origin: OriginStats, adopted: boolean): SocketRecord | undefined {
    if (typeof (socket as Partial<Closable>).once !== 'function') return undefined;
    // The listener first: if the socket refuses it, nothing was recorded.
    (socket as Closable).once('close', this.#onSocketClose);
    const connection = newSocketRecord(origin, performance.now(), adopted);
    this.#sockets.set(socket, connection);
    if (adopted) origin.connectionAdopted();
    return connection;
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

function newRequestRecord(origin: OriginStats, createdAt: number, counted: boolean, upgrade: boolean): RequestRecord {
  return { origin, createdAt, counted, upgrade, socket: undefined, reused: false, firstByteSeen: false, ended: false };
}

function newSocketRecord(origin: OriginStats, now: number, adopted: boolean): SocketRecord {
  return { origin, openedAt: now, adopted, requests: 0, inFlight: 0, idleSince: now, closed: false };
}

/** `error.type` for a failed connect: the error's code (`ECONNREFUSED`, a TLS code), else its name. */
function errorType(error: ConnectMessage['error']): string {
  if (!isObject(error)) return 'unknown';
  const { code, name } = error;
  if (typeof code === 'string' && ERROR_TYPE.test(code)) return code;
  if (typeof name === 'string' && ERROR_TYPE.test(name)) return name;
  return 'unknown';
}

function reportSkipped(channel: string, error: unknown): void {
  warnOnce('POOLSCOPE_EVENT_SKIPPED',
    `poolscope skipped an event on ${channel} it could not read (${String(error)}); ` +
    'such events are skipped from now on without another warning, and the app is unaffected.');
}
