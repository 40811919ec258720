// Which origin a node:http request is counted under: scheme, host and the port it connects to,
// whatever Host header it sends; never its path, query or credentials. Requests over a Unix socket
// and through an Agent marked as poolscope's own are not followed.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { testAgent } from './helpers/agent.ts';
import { agentFiguresFor, assertAgentMatchesServer, nodeRequest } from './helpers/node-http.ts';
import { eventually, okHandler, sleep, startServer } from './helpers/servers.ts';

const agent = await testAgent();
after(() => agent.shutdown());

const httpAgentEntries = () => agent.snapshot().filter((entry) => entry.poolType === 'http.Agent');

describe('the origin of a node:http request', () => {
  it('is the host and port it connects to, whatever Host header it sends', async () => {
    const server = await startServer();
    const own = new http.Agent({ keepAlive: true });
    after(() => own.destroy());
    for (const host of ['virtual.example', 'virtual.example:8443', 'other.example:80']) {
      const status = await new Promise<number>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: server.port, path: '/vhost', headers: { host }, agent: own }, (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
        }).on('error', reject);
      });
      assert.equal(status, 200);
      await sleep(2);
    }
    await eventually(() => assertAgentMatchesServer(agent, server));
    assert.equal(agentFiguresFor(agent, server).requests, 3);
    assert.ok(!httpAgentEntries().some((entry) => entry.origin.includes('example')), 'no origin named after a Host header');
  });

  it('leaves out the path, the query and the credentials of the URL', async () => {
    const server = await startServer();
    await nodeRequest(`http://user:hunter2@127.0.0.1:${server.port}/private/path?token=hunter2`);
    await eventually(() => assertAgentMatchesServer(agent, server));
    for (const entry of httpAgentEntries()) assert.doesNotMatch(entry.origin, /user|hunter2|private|token/);
  });

  it('names a host name as given, its DNS lookup timed', async () => {
    const server = await startServer();
    for (let i = 0; i < 2; i++) {
      await nodeRequest(`http://localhost:${server.port}/named`);
      await sleep(2);
    }
    const origin = `http://localhost:${server.port}`;
    await eventually(() => {
      const figures = httpAgentEntries().find((entry) => entry.origin === origin);
      assert.ok(figures, `a record for ${origin}`);
      assert.equal(figures.requests, 2);
      assert.equal(figures.connectionsOpened, server.truth.connections);
      assert.equal(figures.connectionSetup.phases.dns.count, server.truth.connections, 'one lookup per connection');
      assert.equal(figures.connectionSetup.phases.tcp.count, server.truth.connections);
    });
  });

  it('counts an IPv6 address as its origin, with no lookup', async () => {
    const server = http.createServer(okHandler);
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;
    const own = new http.Agent({ keepAlive: true });
    after(() => own.destroy());
    for (let i = 0; i < 3; i++) {
      await nodeRequest(`http://[::1]:${port}/v6`, { agent: own });
      await sleep(2);
    }
    const figures = httpAgentEntries().find((entry) => entry.origin === `http://[::1]:${port}`);
    assert.ok(figures);
    assert.deepEqual([figures.requests, figures.requestsOnNewConnections, figures.connectionsOpened], [3, 1, 1]);
    assert.equal(figures.connectionSetup.phases.dns.count, 0, 'an address is not looked up');
  });

  it('follows no request over a Unix socket, and none through an Agent marked as poolscope\'s own', async () => {
    const path = join(tmpdir(), `poolscope-${process.pid}.sock`);
    const unix = http.createServer(okHandler);
    await new Promise<void>((resolve) => unix.listen(path, resolve));
    after(() => new Promise<void>((resolve) => unix.close(() => resolve())));
    const before = httpAgentEntries().length;
    await new Promise<void>((resolve, reject) => {
      http.get({ socketPath: path, path: '/unix' }, (response) => {
        response.resume();
        response.on('end', resolve);
      }).on('error', reject);
    });
    const server = await startServer();
    const own = Object.assign(new http.Agent({ keepAlive: true }), { [Symbol.for('poolscope.ownAgent')]: true });
    after(() => own.destroy());
    await nodeRequest(`${server.origin}/own`, { agent: own });
    assert.equal(server.truth.requests, 1);
    assert.equal(httpAgentEntries().length, before, 'no record for either');
  });
});
