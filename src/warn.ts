const warned = new Set<string>();
/** Codes said elsewhere: a worker thread's or cluster worker's settings are the exporting thread's to warn about. */
const silenced = new Set<string>();

/** From now on, warnings with this code are not emitted in this thread. */
export function silence(code: string): void {
  silenced.add(code);
}

/**
 * Emits a process warning once per code: a bad setting or an unexpected payload is said
 * once, never per request.
 */
export function warnOnce(code: string, message: string, onceKey: string = code): void {
  if (warned.has(onceKey) || silenced.has(code)) return;
  warned.add(onceKey);
  try {
    process.emitWarning(message, { type: 'PoolscopeWarning', code });
  } catch {
    // A warning must never be what breaks the app.
  }
}
