// poolscope's interceptor wraps the handler of every request dispatched through an instrumented
// dispatcher, the global one included, which it patches in place. The wrapper has every method,
// so undici's checks of a handler would pass whatever it wraps: a handler undici rejects must
// still be rejected, with undici's own error, and a handler it accepts must still work.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { PoolscopeAgent } from 'poolscope';
import { instrumentInPlace } from '../dist/taps/undici/dispatch-timing.js';
import { figuresFor, testAgent } from './helpers/agent.ts';
import { undici7, undici8 } from './helpers/clients.ts';
import { closedPort, sleep, startServer, type TestServer } from './helpers/servers.ts';

type Handler = Record<string, unknown>;

const dualHandlerApp = fileURLToPath(new URL('./fixtures/dual-handler-app.mjs', import.meta.url));
const projectRoot = fileURLToPath(new URL('..', import.meta.url));
/** A Node process of its own, where nothing but Node has set the global dispatcher. */
const runNode = (args: string[], env: Record<string, string>) =>
  promisify(execFile)(process.execPath, args, { cwd: projectRoot, env: { ...process.env, ...env }, timeout: 30_000 });
interface Dispatcher { dispatch(options: object, handler: object): unknown; close(): Promise<void> }

let agent: PoolscopeAgent;
before(async () => {
  agent = await testAgent();
});
after(() => agent.shutdown());

/**
 * How a dispatch ends, in words: the message of the error undici throws or hands to the
 * handler, or 'accepted' when neither comes within `quietMs` (the port is closed, so an accepted
 * request fails with ECONNREFUSED: that counts as accepted).
 */
function outcome(dispatcher: Dispatcher, options: object, handler: Handler, quietMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    const reported: Handler = { ...handler };
    const settle = (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      resolve(/ECONNREFUSED/.test(message) ? 'accepted' : message);
    };
    if (typeof handler.onError === 'function') reported.onError = settle;
    if (typeof handler.onResponseError === 'function') reported.onResponseError = (_controller: unknown, error: unknown) => settle(error);
    try {
      dispatcher.dispatch(options, reported);
    } catch (error) {
      settle(error);
      return;
    }
    setTimeout(() => resolve('accepted'), quietMs).unref();
  });
}

const legacy: Handler = { onConnect() {}, onError() {}, onHeaders() {}, onData() {}, onComplete() {} };
const current: Handler = { onRequestStart() {}, onResponseError() {}, onResponseStart() {}, onResponseData() {}, onResponseEnd() {} };
const without = (handler: Handler, name: string): Handler => Object.fromEntries(Object.entries(handler).filter(([key]) => key !== name));

/** How long a request waits behind the `/hold`s in the tests that fill an Agent's queue. */
const HOLD_MS = 50;
/**
 * Sockets of the Agents whose queue the tests fill: an Agent of one connection makes a Client,
 * which creates each request as it is dispatched; two make a Pool, which queues the request.
 */
const CONNECTIONS = 2;

interface HoldingServer extends TestServer {
  /** Resolves once `count` `/hold` requests have arrived. */
  holdsArrived(count: number): Promise<void>;
  /** Answers the `/hold` requests; returns when, before the first answer was written. */
  release(): number;
}

/** A server that answers `/hold` requests when the test releases them, and anything else at once. */
async function holdingServer(): Promise<HoldingServer> {
  const held: Array<() => void> = [];
  const waiting: Array<() => void> = [];
  const server = await startServer({
    handler: (request, response) => {
      request.resume();
      if (!request.url?.startsWith('/hold')) return void response.end('ok');
      held.push(() => response.end('ok'));
      for (const wake of waiting.splice(0)) wake();
    },
  });
  return Object.assign(server, {
    async holdsArrived(count: number) {
      while (held.length < count) await new Promise<void>((resolve) => waiting.push(resolve));
    },
    release() {
      const at = performance.now();
      for (const answer of held.splice(0)) answer();
      return at;
    },
  });
}

/**
 * Proves the interceptor is in the dispatcher's path: once every socket of the dispatcher (an
 * Agent of CONNECTIONS) to `server` carries a `/hold`, `send` dispatches a request, which waits in
 * the Pool's queue until the test releases the `/hold`s HOLD_MS later. undici creates a request
 * only when it leaves the Pool's queue: only the interceptor's dispatch stamp sees that wait.
 */
async function assertQueuedFromDispatch(dispatcher: Dispatcher, lib: typeof undici7 | typeof undici8, server: HoldingServer, send: () => Promise<unknown>): Promise<void> {
  const held = Array.from({ length: CONNECTIONS }, async (_, i) =>
    (await lib.request(`${server.origin}/hold/${i}`, { dispatcher } as never)).body.text());
  await server.holdsArrived(CONNECTIONS);
  const before = figuresFor(agent, server).timeInQueue;
  const sending = send();
  const dispatchedBy = performance.now();
  await sleep(HOLD_MS);
  const releasedAt = server.release();
  await Promise.all([...held, sending]);
  const { count, sumSeconds } = figuresFor(agent, server).timeInQueue;
  assert.equal(count - before.count, 1, 'a time in queue for the request behind the /holds');
  const waited = sumSeconds - before.sumSeconds;
  const leastSeconds = (releasedAt - dispatchedBy) / 1000;
  assert.ok(waited >= leastSeconds,
    `time in queue ${waited} s, at least the ${leastSeconds} s from its dispatch to the /holds' release: the interceptor stamped its dispatch`);
}

/** Handlers undici's checks reject, each with the error it rejects them with; `lib` names the undici that checks it. */
const REJECTED = [
  { lib: 'undici 7', what: 'a legacy handler without onUpgrade, for an upgrade', handler: legacy, upgrade: true, error: 'invalid onUpgrade method' },
  { lib: 'undici 7', what: 'a legacy handler without onData', handler: without(legacy, 'onData'), upgrade: false, error: 'invalid onData method' },
  { lib: 'undici 7', what: 'a legacy handler whose onBodySent is not a function', handler: { ...legacy, onBodySent: 'no' }, upgrade: false, error: 'invalid onBodySent method' },
  { lib: 'undici 8', what: 'a handler without onResponseData', handler: without(current, 'onResponseData'), upgrade: false, error: 'invalid onResponseData method' },
  { lib: 'undici 8', what: 'a handler without onRequestUpgrade, for an upgrade', handler: current, upgrade: true, error: 'invalid onRequestUpgrade method' },
  { lib: 'undici 8', what: 'a handler whose onRequestSent is not a function', handler: { ...current, onRequestSent: 1 }, upgrade: false, error: 'invalid onRequestSent method' },
] as const;

describe('a dispatcher poolscope instruments in place (the global one) checks handlers as undici does', () => {
  for (const { lib, what, handler, upgrade, error } of REJECTED) {
    it(`${lib} rejects ${what}, instrumented or not`, async () => {
      const { Agent } = lib === 'undici 7' ? undici7 : undici8;
      const port = await closedPort();
      const options = { origin: `http://127.0.0.1:${port}`, path: '/', method: 'GET', ...(upgrade ? { upgrade: 'websocket' } : {}) };
      const plain = new Agent({ connections: CONNECTIONS }) as unknown as Dispatcher;
      const instrumented = new Agent({ connections: CONNECTIONS }) as unknown as Dispatcher;
      assert.equal(instrumentInPlace(instrumented), true);
      try {
        assert.equal(await outcome(plain, options, handler), error, 'undici itself rejects it');
        assert.equal(await outcome(instrumented, options, handler), error, 'and still does through the interceptor');
        // The same handler made whole is accepted: the check is on the method, not on the wrapper.
        const whole = { ...((handler as Handler).onRequestStart === undefined ? legacy : current), onUpgrade() {}, onRequestUpgrade() {} };
        assert.equal(await outcome(instrumented, options, whole, 300), 'accepted');
        // And the interceptor was in the path of those dispatches.
        const server = await holdingServer();
        const library = lib === 'undici 7' ? undici7 : undici8;
        await assertQueuedFromDispatch(instrumented, library, server,
          async () => (await library.request(`${server.origin}/queued`, { dispatcher: instrumented } as never)).body.text());
      } finally {
        await Promise.all([plain.close(), instrumented.close()]);
      }
    });
  }

  for (const [name, lib, handlerOf] of [
    ['undici 7, a legacy handler', undici7, 'legacy'],
    ['undici 8, a handler', undici8, 'current'],
  ] as const) {
    it(`${name} it accepts is answered and counted, its wait in the queue included`, async (t) => {
      const server = await holdingServer();
      const dispatcher = new lib.Agent({ connections: CONNECTIONS }) as unknown as Dispatcher;
      t.after(() => dispatcher.close());
      assert.equal(instrumentInPlace(dispatcher), true);
      let body = '';
      await assertQueuedFromDispatch(dispatcher, lib, server, () => new Promise<void>((resolve, reject) => {
        const options = { origin: server.origin, path: '/whole', method: 'GET' };
        dispatcher.dispatch(options, handlerOf === 'legacy'
          ? { ...legacy, onData: (chunk: Buffer) => { body += chunk; return true; }, onComplete: () => resolve(), onError: reject }
          : { ...current, onResponseData: (_c: unknown, chunk: Buffer) => { body += chunk; }, onResponseEnd: () => resolve(), onResponseError: (_c: unknown, e: Error) => reject(e) });
      }));
      assert.equal(body, 'ok');
      assert.equal(server.truth.requests, CONNECTIONS + 1);
      assert.equal(figuresFor(agent, server).activeRequests, 0, 'all ended');
    });
  }
});

describe('a handler with both APIs', () => {
  /** Dispatches one request with a handler of both APIs; what it was called with, in order, and its body. */
  function callsOf(dispatcher: Dispatcher, origin: string): Promise<string> {
    return new Promise((resolve) => {
      const calls: string[] = [];
      let body = '';
      const handler = {
        onConnect() { calls.push('onConnect'); },
        onHeaders() { calls.push('onHeaders'); return true; },
        onData(chunk: Buffer) { body += chunk; return true; },
        onComplete() { resolve(`${calls.join(',')} body ${body}`); },
        onError(error: Error) { resolve(`error ${error.message}`); },
        onRequestStart() { calls.push('onRequestStart'); },
        onResponseStart() { calls.push('onResponseStart'); },
        onResponseData(_controller: unknown, chunk: Buffer) { body += chunk; },
        onResponseEnd() { resolve(`${calls.join(',')} body ${body}`); },
        onResponseError(_controller: unknown, error: Error) { resolve(`error ${error.message}`); },
      };
      try {
        dispatcher.dispatch({ origin, path: '/both', method: 'GET' }, handler);
      } catch (error) {
        resolve(`threw ${(error as Error).message}`);
      }
    });
  }

  for (const [name, lib] of [['undici 7', undici7], ['undici 8', undici8]] as const) {
    it(`is called as ${name} calls it, instrumented or not, and counted`, async (t) => {
      const server = await holdingServer();
      const Agent = lib.Agent as unknown as new (options: object) => Dispatcher;
      const plain = new Agent({ connections: CONNECTIONS });
      const instrumented = new Agent({ connections: CONNECTIONS });
      t.after(() => Promise.all([plain.close(), instrumented.close()]));
      assert.equal(instrumentInPlace(instrumented), true);
      const expected = 'onRequestStart,onResponseStart body ok';
      assert.equal(await callsOf(plain, server.origin), expected, 'undici itself calls it by the new API');
      // Through the interceptor, which times its wait behind `/hold` from its dispatch.
      let calls = '';
      await assertQueuedFromDispatch(instrumented, lib, server, async () => { calls = await callsOf(instrumented, server.origin); });
      assert.equal(calls, expected, 'and so it does through the interceptor');
      assert.equal(server.truth.requests, CONNECTIONS + 2);
      const figures = figuresFor(agent, server);
      assert.equal(figures.requests, server.truth.requests);
      assert.equal(figures.activeRequests, 0, 'all ended');
    });
  }
});

describe('an app on Node\'s global dispatcher', () => {
  /** The fixture app's outcome, run with `--import poolscope/register` or without. */
  async function appOutcome(origin: string, register: boolean): Promise<{ outcome: string; undici: string; wrapped: boolean }> {
    const { stdout } = await runNode([...(register ? ['--import', 'poolscope/register'] : []), dualHandlerApp], {
      TARGET_URL: origin, OTEL_EXPORTER_PROMETHEUS_PORT: String(await closedPort()),
    });
    return JSON.parse(stdout.trim().split('\n').at(-1)!);
  }

  it(`calls a handler with both APIs as Node's undici (${process.versions.undici}) does without poolscope`, async () => {
    const server = await startServer();
    const without = await appOutcome(server.origin, false);
    const withAgent = await appOutcome(server.origin, true);
    assert.match(without.outcome, /body ok$/, 'the handler works without poolscope');
    // undici 6 (Node 22) knows only the legacy API; 7 and 8 call the new one when a handler has it.
    if (Number(without.undici.split('.')[0]) === 6) assert.equal(without.outcome, 'onConnect,onHeaders body ok');
    assert.equal(without.wrapped, false);
    assert.equal(withAgent.wrapped, true, 'poolscope timed the dispatch on Node\'s global dispatcher');
    assert.equal(withAgent.outcome, without.outcome, 'and the same with poolscope/register');
    assert.equal(server.truth.requests, 4);
  });
});
