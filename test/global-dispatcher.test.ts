// poolscope puts its interceptor on the global dispatcher `fetch` uses, and takes it off again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { start } from 'poolscope';
import { undici8 } from './helpers/clients.ts';
import { startServer } from './helpers/servers.ts';

const SLOTS = [Symbol.for('undici.globalDispatcher.1'), Symbol.for('undici.globalDispatcher.2')] as const;
const global = globalThis as unknown as Record<symbol, { dispatch: unknown } | undefined>;

describe('the global dispatcher', () => {
  let saved: Array<{ dispatch: unknown } | undefined>;
  before(() => {
    saved = SLOTS.map((slot) => global[slot]);
  });
  after(() => {
    SLOTS.forEach((slot, i) => { global[slot] = saved[i]; });
  });

  it('is instrumented in place at the first request and given back its own dispatch at shutdown', async () => {
    const server = await startServer();
    const installed = new undici8.Agent();
    undici8.setGlobalDispatcher(installed);
    const agent = await start({ exporters: [] });
    await (await fetch(`${server.origin}/a`)).text();
    assert.ok(Object.hasOwn(installed, 'dispatch'), 'an own dispatch shadows the prototype\'s');
    assert.equal(global[SLOTS[1]], installed, 'the app\'s object stays in the slot');
    await agent.shutdown();
    assert.ok(!Object.hasOwn(installed, 'dispatch'), 'the prototype\'s dispatch shows through again');
    await installed.close();
  });

  it('is left alone with instrumentGlobalDispatcher: false', async () => {
    const server = await startServer();
    const installed = new undici8.Agent();
    undici8.setGlobalDispatcher(installed);
    const agent = await start({ exporters: [], instrumentGlobalDispatcher: false });
    await (await fetch(`${server.origin}/b`)).text();
    assert.ok(!Object.hasOwn(installed, 'dispatch'));
    const figures = agent.snapshot().find((entry) => entry.origin === server.origin);
    assert.equal(figures?.requests, 1, 'requests are still counted');
    assert.equal(figures?.timeInQueue.count, 1, 'and their time in queue, from creation');
    await agent.shutdown();
    await installed.close();
  });

  it('a compose() Proxy, which answers dispatch itself, is composed once more in its slot and put back', async () => {
    const server = await startServer();
    const base = new undici8.Agent({ connections: 1 });
    const composed = base.compose((dispatch) => (options, handler) => dispatch(options, handler));
    undici8.setGlobalDispatcher(composed);
    const agent = await start({ exporters: [] });
    await Promise.all([0, 1, 2].map(async (i) => (await undici8.fetch(`${server.origin}/c/${i}`)).text()));
    assert.notEqual(global[SLOTS[1]], composed, 'the slot holds poolscope\'s composition');
    await Promise.all([0, 1, 2].map(async (i) => (await undici8.fetch(`${server.origin}/d/${i}`)).text()));
    const figures = agent.snapshot().find((entry) => entry.origin === server.origin);
    assert.equal(figures?.requests, 6);
    assert.equal(figures?.timeInQueue.count, 6);
    await agent.shutdown();
    assert.equal(global[SLOTS[1]], composed, 'the app\'s dispatcher is back');
    await base.close();
  });

  it('one the interceptor cannot go on is one warning at the next request, which is counted as the rest are', async () => {
    const server = await startServer();
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => {
      if ((warning as { code?: unknown }).code === 'POOLSCOPE_GLOBAL_DISPATCHER') warnings.push(warning);
    };
    process.on('warning', onWarning);
    const agent = await start({ exporters: [] });
    const base = new undici8.Agent();
    // Frozen, so its dispatch cannot be replaced, and no compose() to wrap it with.
    const frozen = Object.freeze({ dispatch: (options: never, handler: never) => base.dispatch(options, handler) });
    for (const slot of SLOTS) global[slot] = frozen;
    for (const path of ['/e', '/f', '/g']) await (await undici8.request(`${server.origin}${path}`, { dispatcher: base })).body.text();
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
    assert.equal(warnings.length, 1, 'said once');
    assert.match(warnings[0]!.message, /could not instrument the global dispatcher/);
    assert.equal(agent.snapshot().find((entry) => entry.origin === server.origin)?.requests, 3);
    await agent.shutdown();
    await base.close();
  });
});
