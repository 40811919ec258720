// How a node:http request is seen to take its socket and to end, each way its Agent hands it one:
// a new socket made in its constructor, a free socket handed over in its constructor (taken in
// Node's next tick), or a place in the Agent's queue. Each way, a request the app drops before
// it takes its socket ends, a body written slowly keeps its socket busy, and every figure equals
// the server's once all ended.
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import { after, describe, it } from 'node:test';
import { testAgent } from './helpers/agent.ts';
import { agentFiguresFor, assertAgentMatchesServer, nodeRequest } from './helpers/node-http.ts';
import { eventually, sleep, startServer, type TestServer } from './helpers/servers.ts';

const agent = await testAgent();
after(() => agent.shutdown());

const uncaught: unknown[] = [];
process.on('uncaughtException', (error) => uncaught.push(error));
after(() => assert.deepEqual(uncaught, [], 'nothing escaped'));

type NodeFetch = (url: string, init?: { agent?: http.Agent; signal?: AbortSignal }) => Promise<{ text(): Promise<string> }>;
const nodeFetch = createRequire(import.meta.url)('node-fetch') as NodeFetch;

/**
 * What holds after requests dropped before they took a socket, on every Node: nothing in flight,
 * no busy socket, no failed connection attempt, and the requests the server saw counted. (Node 22
 * destroys a socket still connecting, or handed to a dropped request, where 24.21 and later give
 * it back to the Agent: a connection the server's kernel accepted may never have been seen
 * connected by the client, so connections are compared only where each was used.)
 */
function assertNothingInFlight(server: TestServer): void {
  const figures = agentFiguresFor(agent, server);
  assert.equal(figures.activeRequests, 0, 'no dropped request stays in flight');
  assert.equal(figures.openConnections.active, 0, 'no socket stays busy');
  assert.deepEqual(figures.connectionErrors, {}, 'the app\'s drops are no failed connection attempts');
  assert.equal(figures.requests, server.truth.requests, 'requests = requests the server received');
}

/** A request the app drops with the legacy `abort()` in the tick it made it: no error is reported. */
function abortedAtOnce(url: string, agent: http.Agent): http.ClientRequest {
  const request = http.request(url, { agent });
  request.on('error', () => {});
  request.abort();
  return request;
}

describe('a request dropped before it takes its socket ends', () => {
  it('handed a free socket in its constructor, then abort() in the same tick', async () => {
    const server = await startServer();
    const own = new http.Agent({ keepAlive: true });
    after(() => own.destroy());
    for (let i = 0; i < 3; i++) {
      await nodeRequest(`${server.origin}/warm`, { agent: own });
      const request = abortedAtOnce(`${server.origin}/dropped`, own);
      assert.equal(request.reusedSocket, true, 'the Agent handed it the free socket');
      await sleep(5);
      assertNothingInFlight(server);
    }
    await nodeRequest(`${server.origin}/after`, { agent: own });
    // Each socket the dropped requests were handed had carried a request: all are the server's.
    await eventually(() => assertAgentMatchesServer(agent, server));
    assert.equal(server.truth.requests, 4, 'the dropped requests never reached the server');
  });

  it('given a new socket in its constructor, then abort() in the same tick', async () => {
    const server = await startServer();
    const own = new http.Agent({ keepAlive: true });
    after(() => own.destroy());
    for (let i = 0; i < 3; i++) assert.equal(abortedAtOnce(`${server.origin}/dropped`, own).reusedSocket, false);
    await sleep(50);
    assertNothingInFlight(server);
    await nodeRequest(`${server.origin}/after`, { agent: own });
    await eventually(() => assertNothingInFlight(server));
    assert.equal(server.truth.requests, 1);
  });

  it('queued in an Agent with maxSockets: 1, then abort() in the same tick', async () => {
    const server = await startServer({ handler: (request, response) => { request.resume(); setTimeout(() => response.end('ok'), 50); } });
    const limited = new http.Agent({ keepAlive: true, maxSockets: 1 });
    after(() => limited.destroy());
    const first = nodeRequest(`${server.origin}/first`, { agent: limited });
    for (let i = 0; i < 3; i++) abortedAtOnce(`${server.origin}/queued`, limited);
    await first;
    await sleep(20);
    await eventually(() => assertAgentMatchesServer(agent, server));
    assert.equal(server.truth.requests, 1);
  });

  it('node-fetch 2, its signal aborted as soon as fetch() returns, on a socket kept alive', async () => {
    const server = await startServer();
    const own = new http.Agent({ keepAlive: true });
    after(() => own.destroy());
    await (await nodeFetch(`${server.origin}/warm`, { agent: own })).text();
    const outcomes = await Promise.allSettled(Array.from({ length: 3 }, () => {
      const controller = new AbortController();
      const pending = nodeFetch(`${server.origin}/dropped`, { agent: own, signal: controller.signal });
      controller.abort();
      return pending;
    }));
    assert.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected', 'rejected']);
    await (await nodeFetch(`${server.origin}/after`, { agent: own })).text();
    await eventually(() => assertNothingInFlight(server));
    assert.equal(server.truth.requests, 2);
  });
});

describe('a request body written slowly', () => {
  it('keeps a reused socket busy until its response, and its time in queue ends when it takes the socket', async () => {
    const server = await startServer();
    const own = new http.Agent({ keepAlive: true });
    after(() => own.destroy());
    await nodeRequest(`${server.origin}/warm`, { agent: own });
    const createdAt = performance.now();
    const response = new Promise<void>((resolve, reject) => {
      const request = http.request(`${server.origin}/upload`, { agent: own, method: 'POST' }, (res) => res.resume().on('end', resolve));
      request.on('error', reject);
      assert.equal(request.reusedSocket, true);
      request.write('first part');
      setTimeout(() => {
        const figures = agentFiguresFor(agent, server);
        try {
          assert.equal(figures.activeRequests, 1);
          assert.deepEqual(figures.openConnections, { active: 1, idle: 0 }, 'the socket is busy while the body is written');
        } catch (error) {
          reject(error as Error);
        }
        request.end('last part');
      }, 150);
    });
    await response;
    const bodyTook = (performance.now() - createdAt) / 1000;
    await eventually(() => assertAgentMatchesServer(agent, server));
    const figures = agentFiguresFor(agent, server);
    assert.equal(figures.requestsOnReusedConnections, 1);
    assert.equal(figures.timeInQueue.count, 2);
    assert.ok(figures.timeInQueue.sumSeconds < bodyTook / 2,
      `time in queue ${figures.timeInQueue.sumSeconds} s, not the ${bodyTook} s the body took`);
  });
});
