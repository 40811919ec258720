// Imported before the undici packages, so that the suite's built-in fetch() runs on Node's own
// global dispatcher, as in an app that never loads undici. Making a Response loads Node's undici,
// which puts its Agent in the slot Node's fetch reads; undici 7 and 8 fill the slot only when it
// is empty, except undici 8 over Node 22's undici 6 (which does not write undici 8's own slot):
// `keepNodeGlobalDispatcher()` puts Node's back after them.
new Response('');
const SLOT = Symbol.for('undici.globalDispatcher.1');
const slots = globalThis as unknown as Record<symbol, unknown>;
const nodeOwn = slots[SLOT];

export function keepNodeGlobalDispatcher(): void {
  if (nodeOwn !== undefined && slots[SLOT] !== nodeOwn) slots[SLOT] = nodeOwn;
}
