// An app may stop and start poolscope many times while its sockets live on: each socket keeps
// one close listener, and the running agent still counts its close.
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { describe, it } from 'node:test';
import { start } from 'poolscope';
import { undici8 } from './helpers/clients.ts';
import { eventually, sleep, startServer } from './helpers/servers.ts';

const RESTARTS = 20;

describe('restarting poolscope', () => {
  it('adds no close listener per restart to a long-lived socket, and the last agent sees it close', async (t) => {
    const server = await startServer();
    const dispatcher = new undici8.Agent();
    t.after(() => dispatcher.close());
    const sockets: Array<{ listenerCount(event: string): number }> = [];
    const onConnected = (message: unknown) => sockets.push((message as { socket: typeof sockets[number] }).socket);
    diagnosticsChannel.subscribe('undici:client:connected', onConnected);
    t.after(() => diagnosticsChannel.unsubscribe('undici:client:connected', onConnected));
    const send = async (i: number) => (await undici8.request(`${server.origin}/r/${i}`, { dispatcher } as never)).body.text();

    let agent = await start({ exporters: [] });
    await send(0);
    assert.equal(sockets.length, 1);
    const listeners = sockets[0]!.listenerCount('close');
    for (let i = 1; i <= RESTARTS; i++) {
      await agent.shutdown();
      agent = await start({ exporters: [] });
      // A gap, so the pool has heard its socket is free (back-to-back requests may open a second).
      await sleep(5);
      await send(i);
    }
    assert.equal(sockets.length, 1, 'one socket carried every request');
    assert.equal(server.truth.connections, 1);
    assert.equal(sockets[0]!.listenerCount('close'), listeners, `${RESTARTS} restarts added no listener`);
    const figures = () => agent.snapshot().find((entry) => entry.origin === server.origin);
    assert.deepEqual(figures()?.openConnections, { active: 0, idle: 1 });
    await server.close();
    await eventually(() => assert.deepEqual(figures()?.openConnections, { active: 0, idle: 0 }));
    await agent.shutdown();
  });
});
