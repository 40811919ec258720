import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { start, type OriginSnapshot, type PoolscopeAgent } from 'poolscope';
import { undici8 } from './clients.ts';
import { loopbackLookup } from './faults.ts';
import { startServer, type TestServer } from './servers.ts';

/** The agent for this test file's process, exporting nowhere: tests read `snapshot()`. */
export function testAgent(): Promise<PoolscopeAgent> {
  return start({ exporters: [] });
}

/** The agent's figures for one server's origin (of one pool type, when given). */
export function figuresFor(agent: PoolscopeAgent, server: TestServer, poolType?: OriginSnapshot['poolType']): OriginSnapshot {
  return originFigures(agent, server.origin, poolType);
}

/** The agent's figures for an origin (`scheme://host:port`), of one pool type when given; it must have a record. */
export function originFigures(agent: PoolscopeAgent, origin: string, poolType?: OriginSnapshot['poolType']): OriginSnapshot {
  const figures = agent.snapshot().find((entry) => entry.origin === origin && (poolType === undefined || entry.poolType === poolType));
  assert.ok(figures, `poolscope has no ${poolType ?? ''} record for ${origin}`);
  return figures;
}

/**
 * The equalities that must hold between the agent and the server at any quiet moment:
 * every request that reached a socket counted once, new ones = sockets that carried one,
 * opened = accepted (TLS: handshakes), open = what the server still holds, nothing in flight.
 */
export function assertMatchesServer(agent: PoolscopeAgent, server: TestServer, tls = false, poolType?: OriginSnapshot['poolType']): void {
  const figures = figuresFor(agent, server, poolType);
  const { truth } = server;
  assert.equal(figures.requests, truth.requests, 'requests = requests the server received');
  assert.equal(figures.requestsOnNewConnections, truth.connectionsWithRequests, 'new = server connections that carried a request');
  assert.equal(figures.requestsOnReusedConnections, truth.requests - truth.connectionsWithRequests, 'reused = the rest');
  assert.equal(figures.connectionsOpened, tls ? truth.tlsHandshakes : truth.connections, 'opened = connections the server accepted');
  assert.equal(figures.activeRequests, 0, 'no request in flight');
  assert.equal(figures.openConnections.active, 0, 'no busy socket');
  assert.equal(figures.openConnections.idle, truth.open, 'idle sockets = sockets the server holds open');
  assert.equal(figures.connectionsClosed.active + figures.connectionsClosed.idle, figures.connectionsOpened - truth.open,
    'closed = opened - still open');
}

/** An Agent marked as poolscope's own (`Symbol.for('poolscope.ownAgent')`): a scrape is not the app's traffic. */
const scraper = Object.assign(new http.Agent({ keepAlive: true }), { [Symbol.for('poolscope.ownAgent')]: true });

/**
 * `/metrics` read with node:http on an Agent poolscope counts nothing of (see `scraper`).
 * `agent: false`: on a connection closed after the answer, for an app that is to end soon after:
 * the scraper's kept-alive connection holds the app's process open for the server's keep-alive.
 */
export function scrape(url: string, agent: http.Agent | false = scraper): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk) => { body += chunk; }).on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/**
 * An agent serving `/metrics` on a free loopback port, its histograms in every bucket, after
 * `requestsEach` requests to each of `origins` origins (`origin-N.test`, all one loopback server; fifty origins at a time): an
 * exposition as large as the test needs.
 */
export async function agentWithOrigins(origins: number, requestsEach: number): Promise<{ agent: PoolscopeAgent; port: number }> {
  const agent = await start({ exporters: ['prometheus'], host: '127.0.0.1', port: 0, maxOrigins: origins, histograms: 'detailed' });
  const server = await startServer();
  const dispatcher = new undici8.Agent({ connect: { lookup: loopbackLookup() } });
  for (let first = 0; first < origins; first += 50) {
    await Promise.all(Array.from({ length: Math.min(50, origins - first) }, async (_, j) => {
      for (let request = 0; request < requestsEach; request++) {
        const { body } = await undici8.request(`http://origin-${first + j}.test:${server.port}/`, { dispatcher });
        await body.text();
      }
    }));
  }
  await dispatcher.close();
  return { agent, port: Number(new URL(agent.metricsUrl!).port) };
}

/** A raw `GET /metrics` on its own connection, whose reading the test paces. */
export async function rawScrape(port: number, userAgent: string): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.write(`GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\nuser-agent: ${userAgent}\r\nconnection: close\r\n\r\n`);
  return socket;
}
