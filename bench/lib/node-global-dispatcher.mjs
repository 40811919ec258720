/**
 * Imported before the undici packages, so that Node's built-in `fetch()` runs on Node's own global
 * dispatcher, as in an app that never loads undici. Making a `Response` loads Node's undici, which
 * puts its Agent in the slot Node's `fetch` reads; undici 7 and 8 fill that slot only when it is
 * empty, except undici 8 over Node 22's undici 6 (which does not write undici 8's own slot):
 * `keepNodeGlobalDispatcher()`, called once they have loaded, puts Node's back. The benchmarks'
 * clients and the test suite's both use it.
 */
new Response('');
const SLOT = Symbol.for('undici.globalDispatcher.1');
const nodeOwn = globalThis[SLOT];

export function keepNodeGlobalDispatcher() {
  if (nodeOwn !== undefined && globalThis[SLOT] !== nodeOwn) globalThis[SLOT] = nodeOwn;
}
