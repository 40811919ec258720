// HTTP/2 carries many requests on one socket: the agent must see one connection of protocol
// `2` and as many concurrent streams on it as the server saw, and export that as streams.peak.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import { start, type PoolscopeAgent } from 'poolscope';
import { figuresFor, scrape } from './helpers/agent.ts';
import { undici7, undici8 } from './helpers/clients.ts';
import { testCertificate, type TestServer } from './helpers/servers.ts';

const CONCURRENT = 8;
/** The server holds every stream until this many are open on one session, or this long has passed. */
const HOLD_LIMIT_MS = 2000;

interface H2Truth { sessions: number; streams: number; mostConcurrentStreams: number }

let agent: PoolscopeAgent;
before(async () => {
  agent = await start({ exporters: ['prometheus'], host: '127.0.0.1', port: 0 });
});
after(() => agent.shutdown());

async function startH2Server(t: TestContext): Promise<TestServer & { h2: H2Truth }> {
  const tls = await testCertificate();
  const h2: H2Truth = { sessions: 0, streams: 0, mostConcurrentStreams: 0 };
  const server = http2.createSecureServer({ key: tls.key, cert: tls.cert, allowHTTP1: false });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    h2.sessions++;
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    let open = 0;
    let held: Array<() => void> = [];
    const releaseAll = () => {
      for (const release of held) release();
      held = [];
    };
    session.on('stream', (stream) => {
      h2.streams++;
      open++;
      h2.mostConcurrentStreams = Math.max(h2.mostConcurrentStreams, open);
      stream.on('close', () => open--);
      const timer = setTimeout(releaseAll, HOLD_LIMIT_MS);
      held.push(() => {
        clearTimeout(timer);
        if (stream.closed) return;
        stream.respond({ ':status': 200 });
        stream.end('ok');
      });
      if (open >= CONCURRENT) releaseAll();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = () => new Promise<void>((resolve) => {
    for (const session of sessions) session.destroy();
    server.close(() => resolve());
  });
  t.after(close);
  return {
    origin: `https://127.0.0.1:${port}`, port, h2, close,
    truth: { connections: 0, tlsHandshakes: 0, requests: 0, connectionsWithRequests: 0, open: 0 },
  };
}

function streamsPeakLine(exposition: string, port: number): string | undefined {
  return exposition.split('\n').find((line) =>
    line.startsWith('poolscope_client_connection_streams_peak{') && line.includes(`server_port="${port}"`));
}

describe('HTTP/2 streams per connection', () => {
  it('undici 8 (HTTP/2 by default) multiplexes 8 concurrent requests on one socket, protocol 2', async (t) => {
    const server = await startH2Server(t);
    const { cert } = await testCertificate();
    const dispatcher = new undici8.Agent({ connect: { ca: cert } });
    t.after(() => dispatcher.close());
    const bodies = await Promise.all(Array.from({ length: CONCURRENT }, async (_, i) =>
      (await undici8.request(`${server.origin}/stream/${i}`, { dispatcher })).body.text()));
    assert.deepEqual(bodies, Array(CONCURRENT).fill('ok'));
    assert.equal(server.h2.sessions, 1);
    assert.equal(server.h2.mostConcurrentStreams, CONCURRENT);
    const figures = figuresFor(agent, server);
    assert.deepEqual(figures.connectionsOpenedByProtocol, { 2: 1 });
    assert.equal(figures.requests, CONCURRENT);
    assert.equal(figures.requestsOnNewConnections, 1, 'the socket\'s first stream');
    assert.equal(figures.maxStreamsPerConnection, CONCURRENT);
    assert.equal(figures.activeRequests, 0);
    const line = streamsPeakLine(await scrape(`${agent.metricsUrl}`), server.port);
    assert.ok(line?.includes('network_protocol_version="2"'), line);
    assert.match(line!, new RegExp(` ${CONCURRENT}$`));
  });

  it('undici 7 with allowH2 counts exactly the sessions and the streams per session the server saw', async (t) => {
    const server = await startH2Server(t);
    const { cert } = await testCertificate();
    const dispatcher = new undici7.Agent({ allowH2: true, connect: { ca: cert } });
    t.after(() => dispatcher.close());
    await Promise.all(Array.from({ length: CONCURRENT }, async (_, i) =>
      (await undici7.request(`${server.origin}/stream/${i}`, { dispatcher })).body.text()));
    const figures = figuresFor(agent, server);
    assert.equal(server.h2.streams, CONCURRENT);
    assert.deepEqual(figures.connectionsOpenedByProtocol, { 2: server.h2.sessions });
    assert.equal(figures.requests, CONCURRENT);
    assert.equal(figures.requestsOnNewConnections, server.h2.sessions);
    assert.equal(figures.maxStreamsPerConnection, server.h2.mostConcurrentStreams);
  });
});
