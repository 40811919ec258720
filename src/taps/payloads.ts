import { isIP } from 'node:net';
import { warnOnce } from '../warn.js';

/**
 * What both taps need to read the objects a channel or an event hands them: nothing there is
 * trusted, every field is checked before use, and nothing read becomes a label unless it looks
 * like what it should be.
 */

/**
 * What an error code or class name looks like (`ECONNREFUSED`, `UND_ERR_CONNECT_TIMEOUT`,
 * `DEPTH_ZERO_SELF_SIGNED_CERT`; `ConnectTimeoutError`): anything else, which a custom connector
 * could fill with anything, never becomes a label.
 */
const ERROR_CODE = /^[A-Z][A-Z0-9_]{1,63}$/;
const ERROR_NAME = /^[A-Z][A-Za-z0-9]{1,63}$/;

export function isObject(value: unknown): value is object {
  return (typeof value === 'object' || typeof value === 'function') && value !== null;
}

/** `error.type` for a failed connect: the error's code (`ECONNREFUSED`, a TLS code), else its name. */
export function errorType(error: unknown): string {
  if (!isObject(error)) return 'unknown';
  const { code, name } = error as { code?: unknown; name?: unknown };
  if (typeof code === 'string' && ERROR_CODE.test(code)) return code;
  if (typeof name === 'string' && ERROR_NAME.test(name)) return name;
  return 'unknown';
}

/** Whether `net` looks `hostname` up: anything but an IP address (in brackets or not) is looked up. */
export function resolves(hostname: unknown): boolean {
  if (typeof hostname !== 'string') return true;
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return isIP(bare) === 0;
}

/** Says once, for both taps, that an event could not be read; the handler that caught it carries on. */
export function reportSkipped(channel: string, error: unknown): void {
  // What a hostile payload throws may refuse to become a string too (an object without a prototype).
  let reason: string;
  try {
    reason = String(error);
  } catch {
    reason = 'a value that cannot be shown';
  }
  warnOnce('POOLSCOPE_EVENT_SKIPPED',
    `poolscope skipped an event on ${channel} it could not read (${reason}); ` +
    'such events are skipped from now on without another warning, and the app is unaffected.');
}
