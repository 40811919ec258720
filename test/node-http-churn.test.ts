// Keep-alive shorter than the gaps between calls, through node:http: every call finds its socket
// closed and opens a new one. Each of those is a reopen, with the gap it had to outlast.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, it } from 'node:test';
import { testAgent } from './helpers/agent.ts';
import { agentFiguresFor, assertAgentMatchesServer, nodeRequest } from './helpers/node-http.ts';
import { eventually, sleep, startServer, type TestServer } from './helpers/servers.ts';

/** Ten times the short gap: a loaded machine's timers stretch 20 ms, but not past this. */
const KEEP_ALIVE_MS = 200;
const LONG_GAP_MS = 500;
const CALLS = 5;

const agent = await testAgent();
after(() => agent.shutdown());

async function callEvery(gapMs: number, server: TestServer, own?: http.Agent): Promise<void> {
  for (let i = 0; i < CALLS; i++) {
    if (i > 0) await sleep(gapMs);
    assert.equal((await nodeRequest(`${server.origin}/call/${i}`, own === undefined ? {} : { agent: own })).body, 'ok');
  }
}

const flavours = [
  { name: 'the global Agent, the server closing idle sockets after 200 ms', server: { closeIdleAfterMs: KEEP_ALIVE_MS }, agent: () => undefined },
  { name: 'an Agent of its own, the server closing idle sockets after 200 ms', server: { closeIdleAfterMs: KEEP_ALIVE_MS }, agent: () => new http.Agent({ keepAlive: true }) },
  { name: 'an Agent whose own idle timeout is 200 ms', server: {}, agent: () => new http.Agent({ keepAlive: true, timeout: KEEP_ALIVE_MS }) },
];

// Each flavour has its servers and Agents: they run at once, the file in the time of one.
describe('keep-alive churn through node:http', { concurrency: true }, () => {
  for (const flavour of flavours) {
    describe(`keep-alive churn through ${flavour.name}`, () => {
      it('counts every reconnect at 500 ms gaps as reopened, with the idle time it had to outlast', async () => {
        const server = await startServer(flavour.server);
        const own = flavour.agent();
        after(() => own?.destroy());
        await callEvery(LONG_GAP_MS, server, own);
        assert.equal(server.truth.connections, CALLS, 'the server saw a new connection per call');
        await eventually(() => assertAgentMatchesServer(agent, server));
        const figures = agentFiguresFor(agent, server);
        assert.equal(figures.connectionsReopened, CALLS - 1, 'every connection after the first is a reopen');
        assert.equal(figures.reopenedAfter.count, CALLS - 1);
        // Each reopen came at least the long gap after the previous call ended (timers may round down a millisecond).
        assert.ok(figures.reopenedAfter.sumSeconds >= (CALLS - 1) * (LONG_GAP_MS - 10) / 1000, `idle before each reopen: ${figures.reopenedAfter.sumSeconds} s in all`);
        assert.equal(figures.connectionsClosed.idle, CALLS - 1, 'each closed idle');
        assert.equal(figures.poolsCreated, 1);
      });

      it('counts none at 20 ms gaps', async () => {
        const server = await startServer(flavour.server);
        const own = flavour.agent();
        after(() => own?.destroy());
        await callEvery(20, server, own);
        assert.equal(server.truth.connections, 1);
        await eventually(() => assertAgentMatchesServer(agent, server));
        assert.equal(agentFiguresFor(agent, server).connectionsReopened, 0);
        assert.equal(agentFiguresFor(agent, server).requestsOnReusedConnections, CALLS - 1);
      });
    });
  }
});
