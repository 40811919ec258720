// Faults through node:http: once every request has ended, whatever ended it, active requests are
// 0, open connections are the sockets the server still holds, requests and connections opened
// equal what the server saw, failed connection attempts are typed, and nothing escapes.
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { originFigures, testAgent } from './helpers/agent.ts';
import { faultyHandler, loopbackLookup, startSilentServer, tunnel } from './helpers/faults.ts';
import { agentFiguresFor, assertAgentMatchesServer, nodeHttpClients, nodeRequest } from './helpers/node-http.ts';
import { closedPort, eventually, sleep, startServer, testCertificate } from './helpers/servers.ts';

const agent = await testAgent();
after(() => agent.shutdown());

const uncaught: unknown[] = [];
process.on('uncaughtException', (error) => uncaught.push(error));
after(() => assert.deepEqual(uncaught, [], 'nothing escaped'));

/** What `http.client.request.error` said of each failed request: its error code and `reusedSocket`. */
const failures: Array<{ code: unknown; reused: unknown }> = [];
diagnosticsChannel.subscribe('http.client.request.error', (message) => {
  const { request, error } = message as { request: http.ClientRequest; error: { code?: unknown } };
  failures.push({ code: error.code, reused: request.reusedSocket });
});

const faultyServer = () => startServer({ handler: faultyHandler, tunnel });

for (const client of nodeHttpClients()) {
  describe(`faults through ${client.name}`, () => {
    after(() => client.close());

    it('the keep-alive race: the server drops an idle socket as a request is written to it', async () => {
      const server = await faultyServer();
      const before = failures.length;
      for (let i = 0; i < 3; i++) {
        assert.equal((await client.request(`${server.origin}/reset-on-reuse`)).body, 'ok');
        await sleep(5);
        await assert.rejects(client.request(`${server.origin}/reset-on-reuse`), /ECONNRESET|socket hang up/);
        await sleep(5);
      }
      assert.deepEqual(failures.slice(before), Array(3).fill({ code: 'ECONNRESET', reused: true }), 'ECONNRESET on a reused socket, as Node says');
      assert.equal(server.truth.requests, 6);
      await eventually(() => assertAgentMatchesServer(agent, server));
      const figures = agentFiguresFor(agent, server);
      assert.equal(figures.requestsOnReusedConnections, 3);
      assert.equal(figures.connectionsClosed.active, 3, 'each closed under its request');
      assert.deepEqual(figures.connectionErrors, {}, 'no failed connection attempt: the sockets were connected');
    });

    it('a server reset mid-response, and aborts before the headers and mid-body', async () => {
      const server = await faultyServer();
      for (let i = 0; i < 2; i++) await assert.rejects(client.request(`${server.origin}/reset-mid`));
      const outcomes = await Promise.allSettled([
        client.request(`${server.origin}/slow-headers`, { signal: AbortSignal.timeout(50) }),
        client.request(`${server.origin}/stall-body`, { signal: AbortSignal.timeout(50) }),
      ]);
      assert.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected']);
      await eventually(() => assertAgentMatchesServer(agent, server));
      assert.equal(agentFiguresFor(agent, server).requests, 4);
      assert.equal(agentFiguresFor(agent, server).connectionsClosed.active, 4);
    });

    it('an abort before the request is sent counts nothing', async () => {
      const server = await faultyServer();
      await client.request(`${server.origin}/ok`);
      await assert.rejects(client.request(`${server.origin}/ok`, { signal: AbortSignal.abort() }));
      await sleep(20);
      await eventually(() => assertAgentMatchesServer(agent, server));
      assert.equal(agentFiguresFor(agent, server).requests, 1);
    });

    it('refused connections are connection errors, and open nothing', async () => {
      const origin = `http://127.0.0.1:${await closedPort()}`;
      for (let i = 0; i < 3; i++) await assert.rejects(client.request(`${origin}/`));
      await eventually(() => {
        const figures = originFigures(agent, origin, 'http.Agent');
        assert.deepEqual(figures.connectionErrors, { ECONNREFUSED: 3 });
        assert.equal(figures.connectionsOpened, 0);
        assert.equal(figures.requests, 0);
        assert.equal(figures.activeRequests, 0);
      });
    });

    it('an untrusted certificate is a connection error, not a connection', async () => {
      const server = await startServer({ tls: await testCertificate() });
      await assert.rejects(client.request(`${server.origin}/`));
      await eventually(() => assertAgentMatchesServer(agent, server, true));
      const errors = agentFiguresFor(agent, server).connectionErrors;
      assert.deepEqual(Object.values(errors), [1]);
      assert.match(Object.keys(errors)[0]!, /SELF_SIGNED|CERT/);
    });

    it('a mix of every fault at once, then normal traffic', async () => {
      const server = await faultyServer();
      const paths = ['/ok', '/slow-headers', '/stall-body', '/reset-mid', '/reset-on-reuse', '/redirect', '/big'];
      await Promise.allSettled(paths.flatMap((path, i) => [
        client.request(`${server.origin}${path}`, { signal: AbortSignal.timeout(30 + 20 * i) }),
        client.request(`${server.origin}${path}?again`),
      ]));
      for (let i = 0; i < 5; i++) {
        await client.request(`${server.origin}/ok`);
        await sleep(2);
      }
      await eventually(() => assertAgentMatchesServer(agent, server));
    });
  });
}

describe('faults only http.request meets', () => {
  it('an abort while queued in an Agent with maxSockets: 1', async () => {
    const server = await faultyServer();
    const limited = new http.Agent({ keepAlive: true, maxSockets: 1 });
    after(() => limited.destroy());
    const outcomes = await Promise.allSettled([
      nodeRequest(`${server.origin}/slow-headers`, { agent: limited }),
      nodeRequest(`${server.origin}/ok?queued`, { agent: limited, signal: AbortSignal.timeout(50) }),
      nodeRequest(`${server.origin}/ok?queued-too`, { agent: limited, signal: AbortSignal.timeout(100) }),
    ]);
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'rejected']);
    assert.equal(server.truth.requests, 1, 'the queued requests never reached the server');
    await eventually(() => assertAgentMatchesServer(agent, server));
  });

  it('10,000 concurrent requests through an Agent with maxSockets: 64', async () => {
    const server = await faultyServer();
    const pooled = new http.Agent({ keepAlive: true, maxSockets: 64 });
    after(() => pooled.destroy());
    const outcomes = await Promise.allSettled(Array.from({ length: 10_000 }, (_, i) => nodeRequest(`${server.origin}/ok?${i}`, { agent: pooled })));
    assert.equal(outcomes.filter((o) => o.status === 'rejected').length, 0);
    assert.equal(server.truth.requests, 10_000);
    await eventually(() => assertAgentMatchesServer(agent, server));
    assert.ok(server.truth.connections <= 64);
    const figures = agentFiguresFor(agent, server);
    assert.equal(figures.timeInQueue.count, 10_000, 'every request has a time in queue');
    assert.equal(figures.pools, 1);
  });

  it('a request destroyed before its socket event: its new socket is followed all the same', async () => {
    const server = await faultyServer();
    const own = new http.Agent({ keepAlive: true });
    after(() => own.destroy());
    const request = http.request(`${server.origin}/ok`, { agent: own });
    request.on('error', () => {});
    request.destroy();
    await sleep(50);
    if (Object.keys(own.freeSockets).length === 1) {
      // Newer Node (24.21 and later, 26) give the connecting socket back to the Agent, which keeps it.
      await eventually(() => assertAgentMatchesServer(agent, server));
      assert.equal(agentFiguresFor(agent, server).openConnections.idle, 1);
      await nodeRequest(`${server.origin}/ok`, { agent: own });
      await eventually(() => assertAgentMatchesServer(agent, server));
      assert.equal(agentFiguresFor(agent, server).requestsOnNewConnections, 1, 'its first request is new');
    } else {
      // Node 22 destroys it while it connects: the client never saw it connect (the server's kernel
      // may have), so it was never opened, and it is no failed attempt either.
      const figures = agentFiguresFor(agent, server);
      assert.equal(figures.connectionsOpened, 0);
      assert.deepEqual(figures.connectionErrors, {});
      assert.deepEqual(figures.openConnections, { active: 0, idle: 0 });
      assert.equal(figures.activeRequests, 0);
    }
  });

  it('timeouts that destroy the request before the headers and mid-body', async () => {
    const server = await faultyServer();
    const timedOut = (path: string) => new Promise<void>((resolve) => {
      const request = http.get(`${server.origin}${path}`, { timeout: 50 }, (response) => {
        response.on('data', () => {});
        response.on('error', () => resolve());
      });
      request.on('timeout', () => request.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      request.on('error', () => resolve());
    });
    await Promise.all([timedOut('/slow-headers?hang'), timedOut('/stall-body?hang')]);
    await eventually(() => assertAgentMatchesServer(agent, server));
    assert.equal(agentFiguresFor(agent, server).connectionsClosed.active, 2);
  });

  it('a TLS handshake that never completes, given up by the app', async () => {
    const silent = await startSilentServer();
    const origin = `https://127.0.0.1:${silent.port}`;
    const attempts = [0, 1].map(() => new Promise<void>((resolve) => {
      const request = https.request(origin, { agent: false, timeout: 100 });
      request.end();
      request.on('timeout', () => request.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })));
      request.on('error', () => resolve());
    }));
    await Promise.all(attempts);
    await eventually(() => assert.equal(silent.open(), 0));
    await eventually(() => {
      const figures = originFigures(agent, origin, 'http.Agent');
      assert.equal(silent.accepted(), 2);
      assert.deepEqual(figures.connectionErrors, { ETIMEDOUT: 2 });
      assert.equal(figures.connectionsOpened, 0);
      assert.equal(figures.requests, 0);
      assert.equal(figures.activeRequests, 0);
      assert.deepEqual(figures.openConnections, { active: 0, idle: 0 });
    });
  });

  it('a DNS failure through a custom lookup', async () => {
    const origin = 'http://no-such-host.test:8080';
    for (let i = 0; i < 3; i++) {
      await assert.rejects(nodeRequest(`${origin}/`, { lookup: loopbackLookup(0, 'ENOTFOUND') } as never), /ENOTFOUND/);
    }
    await eventually(() => {
      const figures = originFigures(agent, origin, 'http.Agent');
      assert.deepEqual(figures.connectionErrors, { ENOTFOUND: 3 });
      assert.equal(figures.activeRequests, 0);
      assert.deepEqual(figures.openConnections, { active: 0, idle: 0 });
    });
  });

  it('upgrade and CONNECT: the socket is the app\'s until it closes', async () => {
    const server = await faultyServer();
    const own = new http.Agent({ keepAlive: true });
    after(() => own.destroy());
    const handedOver = (options: http.RequestOptions, event: 'upgrade' | 'connect') => new Promise<Socket>((resolve, reject) => {
      const request = http.request({ host: '127.0.0.1', port: server.port, agent: own, ...options });
      request.on(event, (_response: http.IncomingMessage, socket: Socket) => resolve(socket));
      request.on('error', reject);
      request.end();
    });
    const upgraded = await handedOver({ path: '/ws', headers: { connection: 'upgrade', upgrade: 'echo' } }, 'upgrade');
    const tunnelled = await handedOver({ method: 'CONNECT', path: `127.0.0.1:${server.port}` }, 'connect');
    await nodeRequest(`${server.origin}/ok`, { agent: own });
    await eventually(() => {
      const figures = agentFiguresFor(agent, server);
      assert.equal(figures.openConnections.active, 2, 'both handed-over sockets are busy');
      assert.equal(figures.activeRequests, 0, 'the requests that upgraded have ended');
    });
    upgraded.destroy();
    tunnelled.destroy();
    await eventually(() => assertAgentMatchesServer(agent, server));
    assert.equal(agentFiguresFor(agent, server).requests, 3);
    assert.equal(agentFiguresFor(agent, server).connectionsClosed.active, 2);
  });
});
