import { instrument, instrumentInPlace, restore } from './dispatch-timing.js';
import { warnOnce } from '../../warn.js';

/**
 * Where undici keeps the global dispatcher that `fetch` uses: `.1` for Node 22's and 24's
 * built-in undici and undici 7, `.2` for undici 8 and Node 26 (which write both).
 */
const GLOBAL_DISPATCHERS = [Symbol.for('undici.globalDispatcher.1'), Symbol.for('undici.globalDispatcher.2')] as const;
type WithDispatchers = typeof globalThis & Record<symbol, unknown>;
const [GLOBAL_DISPATCHER_1, GLOBAL_DISPATCHER_2] = GLOBAL_DISPATCHERS;

/**
 * Keeps poolscope's interceptor on the global dispatchers, including one the app installs
 * later with `setGlobalDispatcher()`. undici gives no event for that, and the slots may still
 * be empty when poolscope starts, so the tap calls `check()` at every `undici:request:create`:
 * two property reads. (From the tap's own subscriber: a second subscriber on that channel cost
 * every request a call diagnostics_channel cannot inline.) A new dispatcher is instrumented in
 * place, which also covers the `fetch` calls that already hold it; the request that revealed it
 * was not queued behind the pool (it is being created in the same call), so its creation time
 * is its dispatch time.
 */
export class GlobalDispatcherWatch {
  readonly #seen: unknown[] = GLOBAL_DISPATCHERS.map(() => undefined);
  /** What poolscope changed, to undo on `disable()`: dispatchers patched, slots replaced. */
  readonly #patched: WeakRef<object>[] = [];
  readonly #replaced: Array<{ slot: symbol; original: object; composed: object }> = [];
  /** Instruments the dispatchers in the slots now; then at each `check()`. */
  enable(): void {
    this.check();
  }

  disable(): void {
    for (const ref of this.#patched) {
      const dispatcher = ref.deref();
      if (dispatcher !== undefined) restore(dispatcher);
    }
    const global = globalThis as WithDispatchers;
    for (const { slot, original, composed } of this.#replaced) {
      if (global[slot] === composed) global[slot] = original;
    }
    this.#patched.length = 0;
    this.#replaced.length = 0;
  }

  /** Instruments whatever dispatcher is new in the slots. Never throws: it warns once instead. */
  check(): void {
    try {
      const global = globalThis as WithDispatchers;
      // Every request's creation comes here: two reads with constant keys. Read in the loop below,
      // with the key from an array, V8 looked each up generically on the global object (8% of a
      // keep-alive request's replay, profiled).
      if (global[GLOBAL_DISPATCHER_1] === this.#seen[0] && global[GLOBAL_DISPATCHER_2] === this.#seen[1]) return;
      for (let i = 0; i < GLOBAL_DISPATCHERS.length; i++) {
        const current = global[GLOBAL_DISPATCHERS[i]!];
        if (current === this.#seen[i]) continue;
        this.#seen[i] = current;
        if (typeof current === 'object' && current !== null) this.#seen[i] = this.#instrument(GLOBAL_DISPATCHERS[i]!, current);
      }
    } catch (error) {
      warnOnce('POOLSCOPE_GLOBAL_DISPATCHER', `poolscope could not instrument the global dispatcher (${String(error)}); ` +
        'time in queue is measured from request creation instead.');
    }
  }

  /** Instruments the dispatcher in a slot; returns what the slot holds afterwards. */
  #instrument(slot: symbol, dispatcher: object): object {
    if (instrumentInPlace(dispatcher)) {
      if (this.#patched.length >= 64) this.#prune();
      this.#patched.push(new WeakRef(dispatcher));
      return dispatcher;
    }
    // A Proxy from `compose()` answers `dispatch` itself: compose once more and swap the slot.
    if (typeof (dispatcher as { compose?: unknown }).compose !== 'function') {
      throw new TypeError('the global dispatcher has neither a writable dispatch nor compose()');
    }
    const composed = instrument(dispatcher as { compose(...interceptors: never[]): unknown }) as object;
    (globalThis as WithDispatchers)[slot] = composed;
    if (this.#replaced.length >= 64) this.#replaced.shift();
    this.#replaced.push({ slot, original: dispatcher, composed });
    return composed;
  }

  #prune(): void {
    const live = this.#patched.filter((ref) => ref.deref() !== undefined);
    this.#patched.length = 0;
    this.#patched.push(...live.slice(-32));
  }
}
