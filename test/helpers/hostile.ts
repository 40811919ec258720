// What the payload fuzzers of both taps share: a seeded generator, values that throw, the secret
// that must never reach a label, and the record of what escaped to the process.
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';

export const SECRET = 'sk-live-hunter2';

/** What a `server_address` label may hold: a host a resolver could answer, or `_other`. */
const LABEL_VALUE = /^[a-z0-9._:-]{1,253}$|^_other$/;

/** A deterministic generator: a failure names the seed that reproduces it. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

export const throwing = (): never => {
  throw new Error('hostile getter');
};

/** Throws what cannot even be made a string: an object without a prototype. */
export const throwingBare = (): never => {
  throw Object.create(null);
};

/** Exceptions that reached the process, and poolscope's warnings, from now on. */
export function escapes(): { uncaught: unknown[]; warnings: Error[] } {
  const uncaught: unknown[] = [];
  const warnings: Error[] = [];
  process.on('uncaughtException', (error) => uncaught.push(error));
  process.on('warning', (warning) => {
    if (warning.name === 'PoolscopeWarning') warnings.push(warning);
  });
  return { uncaught, warnings };
}

/** The payloads `traffic` publishes on `channels`, at most `max` of them. */
export async function recordPayloads<T extends object>(channels: readonly string[], max: number, traffic: () => Promise<void>): Promise<Array<[channel: string, payload: T]>> {
  const recorded: Array<[string, T]> = [];
  const recorders = channels.map((name) => {
    const recorder = (message: unknown) => {
      if (typeof message === 'object' && message !== null && recorded.length < max) recorded.push([name, message as T]);
    };
    diagnosticsChannel.subscribe(name, recorder);
    return [name, recorder] as const;
  });
  try {
    await traffic();
  } finally {
    for (const [name, recorder] of recorders) diagnosticsChannel.unsubscribe(name, recorder);
  }
  return recorded;
}

/** No secret, path or header in `exposition`, and only clean `server_address` and `error.type` labels. */
export function assertCleanExposition(exposition: string, moreSecrets: readonly string[] = []): void {
  for (const secret of [SECRET, 'admin', 'private', 'token', 'Bearer', '/record', 'xxxxxxxxxx', ...moreSecrets]) {
    assert.ok(!exposition.includes(secret), `no ${secret} in /metrics: ${exposition.split('\n').find((l) => l.includes(secret))}`);
  }
  for (const match of exposition.matchAll(/server_address="([^"]*)"/g)) {
    assert.match(match[1]!, LABEL_VALUE, `server_address label ${JSON.stringify(match[1]!.slice(0, 80))}`);
  }
  for (const match of exposition.matchAll(/error_type="([^"]*)"/g)) assert.match(match[1]!, /^([A-Z][A-Z0-9_]{1,63}|[A-Z][A-Za-z0-9]{1,63}|unknown|_other)$/);
}
