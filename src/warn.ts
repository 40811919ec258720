const warned = new Set<string>();

/**
 * Emits a process warning once per code: a bad setting or an unexpected payload is said
 * once, never per request.
 */
export function warnOnce(code: string, message: string, onceKey: string = code): void {
  if (warned.has(onceKey)) return;
  warned.add(onceKey);
  try {
    process.emitWarning(message, { type: 'PoolscopeWarning', code });
  } catch {
    // A warning must never be what breaks the app.
  }
}
