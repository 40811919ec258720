import asyncHooks from 'node:async_hooks';

/**
 * Has Node choose its `AsyncLocalStorage` implementation now, before poolscope's `/metrics`
 * server (or anything else of the process) schedules a `process.nextTick`.
 *
 * Node 24 chooses lazily, at the first look at `AsyncLocalStorage` or the first `clearTimeout`,
 * and chooses the `--async-context-frame` one by swapping the prototype of the object that
 * `nextTick` and the timers read the context through. When a `nextTick` ran before the swap
 * (a server's `listen` makes one), V8's optimized code for them went on calling the generic
 * property load afterwards: ~13,000 more instructions per HTTP/2 request of undici's, +7%, in a
 * process whose only listening socket was `/metrics` (BENCHMARKS.md). Node 22 leaves the
 * option off, and Node 26 installs the implementation without a prototype swap.
 *
 * Reading the getter changes nothing but the moment: the choice follows `--async-context-frame`
 * whenever it is made. (Importing `node:async_hooks` from ESM already makes it, as Node builds
 * the module's named exports from their getters; the read holds if that changes.)
 */
export function settleAsyncContextChoice(): void {
  try {
    void asyncHooks.AsyncLocalStorage;
  } catch {
    // Nothing of poolscope's depends on it: the process keeps Node's own timing.
  }
}
