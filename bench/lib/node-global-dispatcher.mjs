/**
 * Imported before undici 8, so that Node's built-in `fetch()` keeps Node's own global dispatcher,
 * as in an app that never loads the undici package: undici 8 fills the slot Node's `fetch` reads
 * with its own Agent, behind a wrapper for older callers, when the slot is empty. Making a
 * `Response` loads Node's undici, which fills the slot with its Agent first.
 */
new Response('');
