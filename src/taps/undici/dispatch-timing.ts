import { performance } from 'node:perf_hooks';

/**
 * Time in queue starts at the application's `dispatch()`, which no diagnostics channel sees: a
 * request waiting in a Pool's queue is not even created yet. An interceptor stamps the dispatch,
 * and when undici starts the request on a socket it calls the handler's `onRequestStart`
 * (`onConnect` before undici 7) and, in the same synchronous run, publishes `sendHeaders`. The
 * stamp is handed over through this slot, which the tap empties at `sendHeaders`.
 *
 * The slot lives on the global object so that an interceptor from one copy of poolscope hands
 * its stamps to the agent of another.
 */
export interface DispatchHandoff {
  /** `performance.now()` at the dispatch of the request being started, or -1. */
  dispatchedAt: number;
  /**
   * `performance.now()` at the start of the dispatch running now, -1 outside one (undefined from
   * a copy of poolscope that does not set it): a request created or started during it needs no
   * clock read, as nothing in a synchronous call waits.
   */
  dispatching?: number;
  /**
   * Stands for the dispatcher the app called: the `dispatch` function the interceptor was
   * composed onto, one per `compose()` (so one per Agent). undici's events only tell Pools
   * apart, and an undici 7+ Agent replaces its Pool for an origin once that Pool's last socket
   * has closed.
   */
  dispatcher: object | undefined;
  /** A microtask will empty the slot: a stamp is only good for the run that left it. */
  armed?: boolean;
}

const HANDOFF = Symbol.for('poolscope.dispatchHandoff');
type WithHandoff = typeof globalThis & { [HANDOFF]?: DispatchHandoff };

export const handoff: DispatchHandoff = (globalThis as WithHandoff)[HANDOFF] ??= { dispatchedAt: -1, dispatching: -1, dispatcher: undefined };

/**
 * undici's `dispatch(options, handler)`. Its option and handler types differ between undici
 * versions; `any` lets one interceptor type-check against all of them.
 */
export type Dispatch = (options: any, handler: any) => boolean;
/** An undici interceptor, for `dispatcher.compose()`. */
export type Interceptor = (dispatch: Dispatch) => Dispatch;

type Method = (...args: unknown[]) => unknown;
type Handler = Record<string, Method | undefined>;

/** Empties the slot: the tap, once it has taken a stamp, and a microtask after each run. */
export function clearHandoff(): void {
  handoff.dispatchedAt = -1;
  handoff.dispatcher = undefined;
  handoff.armed = false;
}

/** What both handler wrappers carry: the app's handler and the dispatch stamp. */
class Timed {
  // Set in the constructor, not declared as class fields: there is one wrapper per request, and
  // defining fields went through V8's generic define path, ~650 instructions of a built-in
  // `fetch()` (e2e callgrind, one run).
  protected declare readonly handler: Handler;
  declare private dispatchedAt: number;
  declare private readonly dispatcher: object;

  constructor(handler: Handler, dispatchedAt: number, dispatcher: object) {
    this.handler = handler;
    this.dispatchedAt = dispatchedAt;
    this.dispatcher = dispatcher;
  }

  /**
   * Leaves the stamp for the `sendHeaders` that follows in this synchronous run, before the
   * app's handler runs: a start the handler aborts publishes `undici:request:error` from within
   * it, and the tap empties the slot there. Other paths that start a request and publish no
   * `sendHeaders` (a cache hit, HTTP/2 CONNECT, undici 6's HTTP/2) must not leave it to another
   * request either: within the app's dispatch call, that call's end puts the slot back as it
   * found it; outside it (a request that waited for a socket, or that undici started from a
   * `setImmediate`, as it does a reused keep-alive socket's), a microtask empties it. Node's
   * `queueMicrotask()` alone is ~500 instructions (e2e callgrind), and a request started within
   * its dispatch call needs none. The dispatch time goes once: a redirect or retry handler
   * inside the interceptor starts each hop on the same handler, and a later hop did not wait in
   * the queue since the app's dispatch.
   */
  protected handOver(): void {
    if ((handoff.dispatching ?? -1) < 0 && handoff.armed !== true) {
      handoff.armed = true;
      queueMicrotask(clearHandoff);
    }
    handoff.dispatchedAt = this.dispatchedAt;
    handoff.dispatcher = this.dispatcher;
    this.dispatchedAt = -1;
  }

  // Methods both APIs have.
  onResponseStarted(...args: unknown[]): unknown { return this.handler.onResponseStarted?.(...args); }
  onBodySent(...args: unknown[]): unknown { return this.handler.onBodySent?.(...args); }
  onRequestSent(...args: unknown[]): unknown { return this.handler.onRequestSent?.(...args); }
}

/**
 * Wraps a handler of undici 7's and 8's API (`onRequestStart` ...). Every method is passed on
 * as is; `onRequestStart` first leaves the dispatch stamp in the handoff slot.
 */
class TimedHandler extends Timed {
  onRequestStart(...args: unknown[]): unknown {
    this.handOver();
    return this.handler.onRequestStart?.(...args);
  }

  onRequestUpgrade(...args: unknown[]): unknown { return this.handler.onRequestUpgrade?.(...args); }
  onResponseStart(...args: unknown[]): unknown { return this.handler.onResponseStart?.(...args); }
  onResponseData(...args: unknown[]): unknown { return this.handler.onResponseData?.(...args); }
  onResponseEnd(...args: unknown[]): unknown { return this.handler.onResponseEnd?.(...args); }
  onResponseError(...args: unknown[]): unknown { return this.handler.onResponseError?.(...args); }
}

/** The same for handlers of undici 6's API (`onConnect` ...), which Node 22's `fetch` uses. */
class TimedLegacyHandler extends Timed {
  onConnect(...args: unknown[]): unknown {
    this.handOver();
    return this.handler.onConnect?.(...args);
  }

  onError(...args: unknown[]): unknown { return this.handler.onError?.(...args); }
  onUpgrade(...args: unknown[]): unknown { return this.handler.onUpgrade?.(...args); }
  onHeaders(...args: unknown[]): unknown { return this.handler.onHeaders?.(...args); }
  onData(...args: unknown[]): unknown { return this.handler.onData?.(...args); }
  onComplete(...args: unknown[]): unknown { return this.handler.onComplete?.(...args); }
}

/**
 * The same for a handler with both APIs, which undici 6 (Node 22's) calls by the legacy one and
 * undici 7 and 8 by the new one: its legacy methods are `TimedLegacyHandler`'s, so that whichever
 * undici runs it finds the methods the handler has, and the stamp is handed over by the start
 * that undici calls.
 */
class TimedDualHandler extends TimedHandler {}
for (const name of Object.getOwnPropertyNames(TimedLegacyHandler.prototype)) {
  if (name !== 'constructor') Object.defineProperty(TimedDualHandler.prototype, name, Object.getOwnPropertyDescriptor(TimedLegacyHandler.prototype, name)!);
}

interface DispatchOptions { readonly method?: unknown; readonly upgrade?: unknown }

/**
 * The handler wrapped to hand over its dispatch stamp, or undefined for one undici will reject.
 * A wrapper has every method, so it passes undici's checks (`assertRequestHandler`) whatever it
 * wraps: it wraps only a handler those checks accept, and undici rejects any other as it would
 * have. They are the strictest of undici's versions' for each API: 8's for handlers of the new
 * API, which 7 does not check, and 6's and 7's for legacy ones; one that an older undici would
 * accept only goes untimed from its dispatch. undici 7 and 8 tell the two APIs apart by
 * `onRequestStart`; undici 6 knows only the legacy one, so a handler that passes both checks
 * gets a wrapper with both. Named reads, not a loop over the names: the handlers of one call
 * site share a shape, which a read by name finds in its inline cache, where a read by a computed
 * name looked each one up.
 */
function timed(handler: Handler, options: DispatchOptions, dispatchedAt: number, dispatcher: object): Timed | undefined {
  if (!optionalMethod(handler.onBodySent)) return undefined;
  const upgrade = Boolean(options.upgrade) || options.method === 'CONNECT';
  const legacyAccepted = typeof handler.onConnect === 'function' && typeof handler.onError === 'function' && (upgrade
    ? typeof handler.onUpgrade === 'function'
    : typeof handler.onHeaders === 'function' && typeof handler.onData === 'function' && typeof handler.onComplete === 'function');
  if (typeof handler.onRequestStart === 'function') {
    const accepted = typeof handler.onResponseError === 'function' && optionalMethod(handler.onRequestSent) && (upgrade
      ? typeof handler.onRequestUpgrade === 'function'
      : typeof handler.onResponseStart === 'function' && typeof handler.onResponseData === 'function' && typeof handler.onResponseEnd === 'function');
    if (!accepted) return undefined;
    return legacyAccepted ? new TimedDualHandler(handler, dispatchedAt, dispatcher) : new TimedHandler(handler, dispatchedAt, dispatcher);
  }
  return legacyAccepted ? new TimedLegacyHandler(handler, dispatchedAt, dispatcher) : undefined;
}

function optionalMethod(value: unknown): boolean {
  return value === undefined || typeof value === 'function';
}

const timingInterceptor: Interceptor = (dispatch) => function timedDispatch(options, handler) {
  if (typeof handler !== 'object' || handler === null || typeof options !== 'object' || options === null) return dispatch(options, handler);
  const dispatchedAt = performance.now();
  const wrapped = timed(handler, options, dispatchedAt, dispatch);
  if (wrapped === undefined) return dispatch(options, handler);
  // A Pool with a free client creates the request within this call (undici 6 also starts it
  // there; 7 and 8 from a `setImmediate`): its creation is this moment, to the few microseconds
  // undici's own code takes.
  const outer = handoff.dispatching ?? -1;
  // A stamp already in the slot is for a send that follows this call (an app handler that
  // dispatches from its `onRequestStart`, after its own request's stamp was left).
  const { dispatchedAt: pendingAt, dispatcher: pendingDispatcher } = handoff;
  handoff.dispatching = dispatchedAt;
  try {
    return dispatch(options, wrapped);
  } finally {
    // The slot as this call found it: what a start in it left and no `sendHeaders` took goes.
    handoff.dispatching = outer;
    handoff.dispatchedAt = pendingAt;
    handoff.dispatcher = pendingDispatcher;
  }
};

/**
 * An undici interceptor that lets poolscope measure `http.client.request.time_in_queue` from the
 * moment the app dispatches a request: `new Agent().compose(interceptor())`.
 */
export function interceptor(): Interceptor {
  return timingInterceptor;
}

/** Any undici dispatcher: they have `compose()` in the undici 6 Node 22 bundles, and in 7 and 8. */
interface Composable { compose(...interceptors: never[]): unknown }

/**
 * `dispatcher.compose(interceptor())`, for apps that build their own Agents: time in queue from
 * dispatch, and pools told apart by the Agent rather than by undici's Pools.
 */
export function instrument<D extends Composable>(dispatcher: D): ReturnType<D['compose']> {
  return dispatcher.compose(timingInterceptor as never) as ReturnType<D['compose']>;
}

/** Dispatchers whose own `dispatch` poolscope replaced: what it replaced, and with what. */
const patched = new WeakMap<object, { readonly original: unknown; readonly installed: Dispatch }>();

/**
 * Routes a dispatcher's own `dispatch` through the interceptor, in place, so that every holder
 * of the object (a `fetch` that already picked the global dispatcher, `agent.request()`) is
 * measured from then on. Returns false when the object will not take it (frozen, or a Proxy
 * that answers `dispatch` itself, as `compose()` returns).
 */
export function instrumentInPlace(dispatcher: object): boolean {
  if (patched.has(dispatcher)) return true;
  const original = (dispatcher as { dispatch?: unknown }).dispatch;
  if (typeof original !== 'function') return false;
  const dispatch = timingInterceptor((options, handler) => Reflect.apply(original, dispatcher, [options, handler]) as boolean);
  try {
    (dispatcher as { dispatch: Dispatch }).dispatch = dispatch;
  } catch {
    return false;
  }
  if ((dispatcher as { dispatch: unknown }).dispatch !== dispatch) {
    Reflect.deleteProperty(dispatcher, 'dispatch');
    return false;
  }
  patched.set(dispatcher, { original, installed: dispatch });
  return true;
}

/**
 * Gives a dispatcher back the `dispatch` it had before `instrumentInPlace()`, unless something
 * else has replaced poolscope's since: that is left as it is.
 */
export function restore(dispatcher: object): void {
  const patch = patched.get(dispatcher);
  if (patch === undefined) return;
  patched.delete(dispatcher);
  if (Object.getOwnPropertyDescriptor(dispatcher, 'dispatch')?.value !== patch.installed) return;
  Reflect.deleteProperty(dispatcher, 'dispatch');
  // It had an own `dispatch` before ours (not the prototype's): put that back.
  if ((dispatcher as { dispatch?: unknown }).dispatch !== patch.original) (dispatcher as { dispatch: unknown }).dispatch = patch.original;
}
