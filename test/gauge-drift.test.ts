// Gauges must come back: once every request has ended, whatever ended it, active requests are 0
// and open connections are exactly the sockets the server still holds; requests and connections
// opened equal what the server saw.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, describe, it, type TestContext } from 'node:test';
import { assertMatchesServer, figuresFor, originFigures, testAgent } from './helpers/agent.ts';
import { clients, undici7, undici8 } from './helpers/clients.ts';
import { faultyHandler, loopbackLookup, startSilentServer, tunnel } from './helpers/faults.ts';
import { eventually, sleep, startServer, testCertificate, type TestServer } from './helpers/servers.ts';

const agent = await testAgent();
after(() => agent.shutdown());

const faultyServer = () => startServer({ handler: faultyHandler, tunnel });
const rejected = (outcomes: PromiseSettledResult<unknown>[]) => outcomes.filter((o) => o.status === 'rejected').length;

for (const client of clients()) {
  describe(`gauges after faults through ${client.name}`, () => {
    after(() => client.close());

    it('an abort before the request is sent creates nothing and counts nothing', async () => {
      const server = await faultyServer();
      await client.request(`${server.origin}/ok`);
      await assert.rejects(client.request(`${server.origin}/ok`, { signal: AbortSignal.abort() }));
      await eventually(() => assertMatchesServer(agent, server));
      assert.equal(figuresFor(agent, server).requests, 1);
    });

    it('aborts before the headers, after the headers and mid-body', async () => {
      const server = await faultyServer();
      const outcomes = await Promise.allSettled([
        client.request(`${server.origin}/slow-headers`, { signal: AbortSignal.timeout(50) }),
        client.request(`${server.origin}/stall-body`, { signal: AbortSignal.timeout(50) }),
        client.request(`${server.origin}/stall-body?second`, { signal: AbortSignal.timeout(80) }),
      ]);
      assert.equal(rejected(outcomes), 3);
      await eventually(() => assertMatchesServer(agent, server));
      assert.equal(figuresFor(agent, server).requests, 3);
    });

    it('a server reset mid-response', async () => {
      const server = await faultyServer();
      for (let i = 0; i < 3; i++) await assert.rejects(client.request(`${server.origin}/reset-mid`));
      await eventually(() => assertMatchesServer(agent, server));
      assert.equal(figuresFor(agent, server).connectionsClosed.active, 3, 'each socket closed with its request in flight');
    });

    it('the keep-alive race: the server drops an idle socket just as a request is written to it', async () => {
      const server = await faultyServer();
      for (let i = 0; i < 3; i++) {
        assert.equal((await client.request(`${server.origin}/reset-on-reuse`)).body, 'ok');
        await sleep(5);
        await assert.rejects(client.request(`${server.origin}/reset-on-reuse`), /ECONNRESET|other side closed|fetch failed|SocketError/);
        await sleep(5);
      }
      assert.equal(server.truth.requests, 6);
      await eventually(() => assertMatchesServer(agent, server));
      assert.equal(figuresFor(agent, server).requestsOnReusedConnections, 3);
    });

    it('a body never read: in flight while it sits there, ended once read or thrown away', async () => {
      const server = await faultyServer();
      for (const end of ['read', 'thrown away'] as const) {
        // 1 MiB: more than undici buffers, so the response cannot finish on its own.
        const unread = await responseWithoutReading(client.name, `${server.origin}/big?${end.replace(' ', '-')}`);
        assert.equal(unread.status, 200);
        // Time for undici to take in all it will take of the body: the request must still be in flight.
        await sleep(20);
        const figures = figuresFor(agent, server);
        assert.equal(figures.activeRequests, 1, `while its body sits unread (to be ${end}), the request is in flight`);
        assert.equal(figures.openConnections.active, 1, 'and its socket busy');
        assert.equal(figures.openConnections.idle, server.truth.open - 1, 'any other socket idle');
        await (end === 'read' ? unread.read() : unread.throwAway());
        await eventually(() => assertMatchesServer(agent, server));
      }
      assert.equal(figuresFor(agent, server).requests, 2);
    });

    it('an untrusted certificate', async () => {
      const server = await startServer({ tls: await testCertificate() });
      await assert.rejects(client.request(`${server.origin}/`));
      await eventually(() => assertMatchesServer(agent, server, true));
      assert.equal(Object.values(figuresFor(agent, server).connectionErrors).reduce((a, b) => a + b, 0), 1);
    });

    it('a mix of every fault at once, twice over, then normal traffic', async () => {
      const server = await faultyServer();
      const paths = ['/ok', '/slow-headers', '/stall-body', '/reset-mid', '/reset-on-reuse', '/redirect', '/big'];
      for (let round = 0; round < 2; round++) {
        await Promise.allSettled(paths.flatMap((path, i) => [
          client.request(`${server.origin}${path}`, { signal: AbortSignal.timeout(30 + 20 * i) }),
          client.request(`${server.origin}${path}?n=${round}`),
        ]));
      }
      for (let i = 0; i < 5; i++) {
        await client.request(`${server.origin}/ok`);
        await sleep(2);
      }
      await eventually(() => assertMatchesServer(agent, server));
    });
  });
}

interface UnreadResponse {
  readonly status: number;
  /** Reads the body to its end. */
  read(): Promise<void>;
  /** Lets go of the body before its end, as an app that no longer wants it does. */
  throwAway(): Promise<void>;
}

/** Makes a request through the client's API and leaves its body unread until told. */
async function responseWithoutReading(clientName: string, url: string): Promise<UnreadResponse> {
  const lib = clientName.startsWith('undici 7') ? undici7 : undici8;
  if (clientName === 'built-in fetch' || clientName.endsWith('fetch()')) {
    const response = clientName === 'built-in fetch' ? await fetch(url) : await lib.fetch(url);
    return { status: response.status, read: async () => void await response.arrayBuffer(), throwAway: () => response.body!.cancel() };
  }
  const { statusCode, body } = await lib.request(url);
  return { status: statusCode, read: async () => void await body.arrayBuffer(), throwAway: async () => void body.destroy() };
}

for (const [name, lib] of [['undici 7', undici7], ['undici 8', undici8]] as const) {
  describe(`gauges after faults through ${name}'s own dispatchers`, () => {
    const dispatchers: Array<{ destroy(): Promise<void> }> = [];
    const agentWith = (options: Record<string, unknown>) => {
      const dispatcher = new lib.Agent(options as never);
      dispatchers.push(dispatcher);
      return dispatcher;
    };
    const pool = (origin: string, options: Record<string, unknown>) => {
      const dispatcher = new lib.Pool(origin, options as never);
      dispatchers.push(dispatcher);
      return dispatcher;
    };
    after(() => Promise.all(dispatchers.map((d) => d.destroy().catch(() => {}))));
    const send = async (url: string, options: Record<string, unknown>) => {
      const { body } = await lib.request(url, options as never);
      return body.text();
    };

    it('an abort while queued in a Pool', async () => {
      const server = await faultyServer();
      const dispatcher = pool(server.origin, { connections: 1 });
      const outcomes = await Promise.allSettled([
        send(`${server.origin}/slow-headers`, { dispatcher }),
        send(`${server.origin}/ok?queued`, { dispatcher, signal: AbortSignal.timeout(50) }),
        send(`${server.origin}/ok?queued-too`, { dispatcher, signal: AbortSignal.timeout(100) }),
      ]);
      assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'rejected']);
      assert.equal(server.truth.requests, 1, 'the queued requests never reached the server');
      await eventually(() => assertMatchesServer(agent, server));
    });

    it('an abort before the connection is made (slow resolver)', async () => {
      const server = await faultyServer();
      const dispatcher = agentWith({ connect: { lookup: loopbackLookup(200) } });
      const url = `http://localhost:${server.port}`;
      await assert.rejects(send(`${url}/ok`, { dispatcher, signal: AbortSignal.timeout(30) }));
      await sleep(300);
      await send(`${url}/ok`, { dispatcher });
      await eventually(() => assertMatchesOrigin(url, server));
    });

    it('headersTimeout and bodyTimeout', async () => {
      const server = await faultyServer();
      const dispatcher = agentWith({ headersTimeout: 50, bodyTimeout: 50 });
      // undici's timers tick about once a second: both at once.
      await Promise.all([
        assert.rejects(send(`${server.origin}/slow-headers?hang`, { dispatcher }), /Headers Timeout|UND_ERR_HEADERS_TIMEOUT/),
        assert.rejects(send(`${server.origin}/stall-body?hang`, { dispatcher }), /Body Timeout|UND_ERR_BODY_TIMEOUT/),
      ]);
      await eventually(() => assertMatchesServer(agent, server));
      assert.equal(figuresFor(agent, server).connectionsClosed.active, 2);
    });

    it('a TLS handshake that never completes (connect timeout)', async () => {
      const silent = await startSilentServer();
      const origin = `https://127.0.0.1:${silent.port}`;
      // Two Agents, so two attempts at once: undici's timers tick about once a second.
      await Promise.all([0, 1].map(() => assert.rejects(send(`${origin}/`, { dispatcher: agentWith({ connect: { timeout: 100 } }) }), /timeout/i)));
      await eventually(() => assert.equal(silent.open(), 0));
      const figures = originFigures(agent, origin);
      assert.equal(silent.accepted(), 2);
      assert.deepEqual(figures.connectionErrors, { UND_ERR_CONNECT_TIMEOUT: 2 });
      assert.equal(figures.connectionsOpened, 0);
      assert.equal(figures.requests, 0);
      assert.equal(figures.activeRequests, 0);
      assert.deepEqual(figures.openConnections, { active: 0, idle: 0 });
    });

    it('a DNS failure through a custom lookup', async () => {
      const dispatcher = agentWith({ connect: { lookup: loopbackLookup(0, 'ENOTFOUND') } });
      const origin = `http://no-such-host-${name.replace(' ', '')}.test:8080`;
      for (let i = 0; i < 3; i++) await assert.rejects(send(`${origin}/`, { dispatcher }));
      const figures = originFigures(agent, origin);
      assert.deepEqual(figures.connectionErrors, { ENOTFOUND: 3 });
      assert.equal(figures.activeRequests, 0);
      assert.deepEqual(figures.openConnections, { active: 0, idle: 0 });
    });

    it('upgrade and CONNECT: the socket is the app\'s until it closes', async () => {
      const server = await faultyServer();
      const dispatcher = agentWith({});
      const upgraded = await lib.upgrade(`${server.origin}/ws`, { dispatcher, upgrade: 'echo' } as never);
      const tunnelled = await lib.connect(`${server.origin}`, { dispatcher } as never);
      await send(`${server.origin}/ok`, { dispatcher });
      await eventually(() => {
        const figures = figuresFor(agent, server);
        assert.equal(figures.openConnections.active, 2, 'both handed-over sockets are busy');
        assert.equal(figures.activeRequests, 0, 'neither counts as an active request');
      });
      upgraded.socket.destroy();
      tunnelled.socket.destroy();
      await eventually(() => assertMatchesServer(agent, server));
      assert.equal(figuresFor(agent, server).requests, 3);
    });

    it('redirects followed by fetch', async () => {
      const server = await faultyServer();
      const dispatcher = agentWith({});
      for (let i = 0; i < 3; i++) assert.equal(await (await lib.fetch(`${server.origin}/redirect`, { dispatcher } as never)).text(), 'ok');
      assert.equal(server.truth.requests, 6);
      await eventually(() => assertMatchesServer(agent, server));
    });

    it('10,000 concurrent requests through a pool of 64', async () => {
      const server = await faultyServer();
      const dispatcher = agentWith({ connections: 64 });
      const outcomes = await Promise.allSettled(Array.from({ length: 10_000 }, (_, i) => send(`${server.origin}/ok?${i}`, { dispatcher })));
      assert.equal(rejected(outcomes), 0);
      assert.equal(server.truth.requests, 10_000);
      await eventually(() => assertMatchesServer(agent, server));
      assert.ok(server.truth.connections <= 64);
    });

    it('HTTP/2 GOAWAY and stream resets', async (t) => {
      const server = await startH2Server(t);
      const { cert } = await testCertificate();
      const dispatcher = agentWith({ allowH2: true, connect: { ca: cert } });
      const outcomes = await Promise.allSettled(['/ok', '/rst', '/ok', '/rst'].map((path) => send(`${server.origin}${path}`, { dispatcher })));
      assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected']);
      const goaway = await Promise.allSettled([send(`${server.origin}/goaway`, { dispatcher })]);
      assert.equal(goaway[0]!.status, 'rejected');
      assert.equal(await send(`${server.origin}/ok`, { dispatcher }), 'ok', 'a new session after GOAWAY');
      await eventually(() => {
        const figures = originFigures(agent, server.origin);
        assert.equal(figures.activeRequests, 0);
        assert.equal(figures.openConnections.active, 0);
        assert.equal(figures.openConnections.idle, server.h2.open());
        assert.equal(figures.connectionsOpened, server.h2.sessions);
        assert.equal(figures.requests, server.h2.streams);
      });
    });
  });
}

/** assertMatchesServer for an origin named other than the server's (a host name through a custom lookup). */
function assertMatchesOrigin(origin: string, server: TestServer): void {
  const figures = agent.snapshot().find((entry) => entry.origin === origin);
  assert.ok(figures, `a record for ${origin}`);
  assertMatchesServer({ ...agent, snapshot: () => [{ ...figures, origin: server.origin }] }, server);
}

interface H2Server { origin: string; h2: { sessions: number; streams: number; open: () => number } }

/** An HTTP/2 server: `/rst` resets its stream, `/goaway` sends GOAWAY and closes the session, the rest answer. */
async function startH2Server(t: TestContext): Promise<H2Server> {
  const tls = await testCertificate();
  const server = http2.createSecureServer({ key: tls.key, cert: tls.cert });
  const sessions = new Set<http2.ServerHttp2Session>();
  const h2 = { sessions: 0, streams: 0, open: () => sessions.size };
  server.on('session', (session) => {
    h2.sessions++;
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => {});
  });
  server.on('stream', (stream, headers) => {
    h2.streams++;
    stream.on('error', () => {});
    const path = headers[':path'];
    if (path === '/rst') stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    else if (path === '/goaway') stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR), stream.session?.destroy();
    else stream.respond({ ':status': 200 }), stream.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    for (const session of sessions) session.destroy();
    server.close(() => resolve());
  }));
  return { origin: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, h2 };
}
