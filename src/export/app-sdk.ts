import type { MeterProvider } from '@opentelemetry/api';

/**
 * Where `@opentelemetry/api` 1.x keeps what an SDK registers, one object for every copy of the
 * API in the process (CJS and ESM builds, several versions).
 */
const API_GLOBAL = Symbol.for('opentelemetry.js.api.1');

/**
 * The MeterProvider the app's OpenTelemetry SDK registered, if any. Read from the API's global
 * object rather than through `@opentelemetry/api`: the API has no late-binding provider (a meter
 * taken before the SDK registers stays a no-op), and this looks without registering anything.
 */
export function registeredMeterProvider(): MeterProvider | undefined {
  try {
    const api = (globalThis as Record<symbol, { metrics?: unknown } | undefined>)[API_GLOBAL];
    const provider = api?.metrics as Partial<MeterProvider> | undefined;
    return typeof provider?.getMeter === 'function' ? provider as MeterProvider : undefined;
  } catch {
    // A getter of the app's on the global that throws is not poolscope's to pass on.
    return undefined;
  }
}

/** How often to look for an SDK's registration during start-up: a property read, far below any start-up's pace. */
export const LOOK_EVERY_MS = 50;

/**
 * Calls `found` once, with the app's MeterProvider, as soon as one is registered, looking every
 * `everyMs`. The returned function stops looking. The timer never keeps the app's process alive.
 */
export function whenMeterProviderRegistered(found: (provider: MeterProvider) => void, everyMs = LOOK_EVERY_MS): () => void {
  const timer = setInterval(() => {
    const provider = registeredMeterProvider();
    if (provider === undefined) return;
    clearInterval(timer);
    found(provider);
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
