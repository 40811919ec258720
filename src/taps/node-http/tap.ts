import diagnosticsChannel from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import type { OriginRegistry } from '../../state/origin-registry.js';
import type { Connection } from '../../state/connection.js';
import { requestSlot } from '../object-slot.js';
import { OWN_AGENT } from './own-traffic.js';
import { isObject, reportSkipped } from '../payloads.js';
import { authorityOf } from './request-authority.js';
import { link, RequestRecord, type HttpRequest, type HttpSocket } from './records.js';
import { AgentSockets } from './sockets.js';

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
 * does (BENCHMARKS.md): the events of its socket, listened to once per socket (`AgentSockets`),
 * end the requests it carries instead, and `http.client.request.error` those that fail.
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
  readonly #sockets: AgentSockets;
  /**
   * The record of requests the tap does not follow (a Unix socket, another scheme): every request
   * created while enabled carries one, so no later read of its slot misses.
   */
  readonly #ignored: RequestRecord;
  readonly #subscriptions: Array<[string, diagnosticsChannel.ChannelListener]> = [];
  /** In the tick after `created`, for a request its Agent handed a free socket (see `#takeHandedSocket()`). */
  readonly #onHandedSocket: (record: RequestRecord) => void;
  /** Listeners on queued requests, made once per tap; `this` is the request. */
  readonly #onRequestSocket: (this: object, socket: unknown) => void;
  readonly #onRequestClose: (this: object) => void;
  #enabled = false;

  constructor(registry: OriginRegistry) {
    this.#registry = registry;
    this.#ignored = new RequestRecord(this, {}, undefined, undefined, -1, false);
    this.#ignored.ended = this.#ignored.released = true;
    this.#sockets = new AgentSockets(registry, {
      sent: (request, connection, now) => this.#sent(request, connection, now),
      ended: (request, release, now) => this.#end(request, release, now),
    });
    // A listener that throws would throw out of Node's `emit`, into the app: each catches its own.
    const requests = this.#requests;
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
  }

  enable(): void {
    if (this.#enabled) return;
    this.#enabled = true;
    this.#sockets.enable();
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
    this.#sockets.disable();
    for (const [name, handler] of this.#subscriptions) diagnosticsChannel.unsubscribe(name, handler);
    this.#subscriptions.length = 0;
  }

  /** Any client socket `net` creates: undici's, a database's, an Agent's. */
  #netSocket({ socket }: SocketMessage): void {
    if (isObject(socket)) this.#sockets.announced(socket);
  }

  #requestCreated({ request }: RequestMessage): void {
    if (!isObject(request)) return;
    const record = this.#follow(request as HttpRequest);
    if (record === undefined) return;
    // The socket its Agent just created for it: followed from its start, whatever becomes of the request.
    const created = this.#sockets.createdFor(record);
    if (created !== undefined) {
      link(record, created);
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
   * The request took the socket its Agent handed it, new, reused or just freed: at `now`, or at
   * its creation for one handed over in its constructor.
   */
  #requestSocket(record: RequestRecord, value: unknown, now = performance.now()): void {
    if (record.socket !== undefined || record.released || !isObject(value)) return;
    const socket = this.#sockets.handedTo(record, value as HttpSocket, now);
    if (socket === undefined) return;
    link(record, socket);
    if (socket.connection !== undefined) this.#sent(record, socket.connection, now);
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
}
