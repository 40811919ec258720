// Where Node publishes `net.client.socket` for undici's connects, the setup splits into DNS,
// TCP and TLS. A lookup that answers after a known delay gives a lower bound that cannot flake
// and keeps DNS traffic off the network.
import assert from 'node:assert/strict';
import { connect, type LookupFunction, type Socket } from 'node:net';
import { before, describe, it } from 'node:test';
import type { PoolscopeAgent } from 'poolscope';
import { figuresFor, testAgent } from './helpers/agent.ts';
import { undici7, undici8 } from './helpers/clients.ts';
import { closedPort, sleep, startServer, testCertificate } from './helpers/servers.ts';

const LOOKUP_DELAY_MS = 50;
const CONNECTIONS = 3;
/** How long before the timed connects a refused attempt is made. */
const STALE_MS = 250;

/**
 * A connector of the app's own that makes its socket a turn later, as one that first asks
 * something else would: nothing ties that socket to the attempt undici announced, so the
 * attempts pair with their outcomes by connector.
 */
function ownConnector(options: { hostname: string; port: string | number }, callback: (error: Error | null, socket: Socket | null) => void): void {
  setImmediate(() => {
    const socket = connect(Number(options.port), options.hostname);
    socket.once('connect', () => callback(null, socket));
    socket.once('error', (error) => callback(error, null));
  });
}

/**
 * ownConnector, whose first attempt goes to `closedPort` and is refused. undici wraps a connector
 * in each Client, and a Pool retires a Client whose connect failed: only a Client used alone
 * makes another attempt, which could be paired with the refused one's start.
 */
function refusedFirst(closedPort: number): typeof ownConnector {
  let attempts = 0;
  return (options, callback) => ownConnector(attempts++ === 0 ? { ...options, port: closedPort } : options, callback);
}

/** Resolves every name to 127.0.0.1 after LOOKUP_DELAY_MS, as a slow resolver would. */
const slowLookup = ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
  setTimeout(() => {
    if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
    else callback(null, '127.0.0.1', 4);
  }, LOOKUP_DELAY_MS);
}) as unknown as LookupFunction;

let agent: PoolscopeAgent;
before(async () => {
  agent = await testAgent();
});

for (const [name, lib] of [['undici 7', undici7], ['undici 8', undici8]] as const) {
  describe(`connection phases through ${name}`, () => {
    it('splits HTTPS setup into dns, tcp and tls, which add up to no more than the total', async (t) => {
      const tls = await testCertificate();
      const server = await startServer({ tls });
      // `localhost` goes through the lookup; the certificate names it.
      const url = `https://localhost:${server.port}/`;
      for (let i = 0; i < CONNECTIONS; i++) {
        const dispatcher = new lib.Agent({ connect: { ca: tls.cert, lookup: slowLookup } });
        t.after(() => dispatcher.close());
        await (await lib.request(url, { dispatcher } as never)).body.text();
      }
      assert.equal(server.truth.tlsHandshakes, CONNECTIONS);
      const figures = agent.snapshot().find((entry) => entry.origin === `https://localhost:${server.port}`);
      assert.ok(figures, 'an origin for localhost');
      const { count, sumSeconds, phases } = figures.connectionSetup;
      assert.equal(count, CONNECTIONS);
      for (const phase of ['dns', 'tcp', 'tls'] as const) assert.equal(phases[phase].count, CONNECTIONS, `${phase} per connection`);
      assert.ok(phases.dns.sumSeconds >= CONNECTIONS * (LOOKUP_DELAY_MS - 1) / 1000, `dns ${phases.dns.sumSeconds} s includes the lookup delay`);
      const split = phases.dns.sumSeconds + phases.tcp.sumSeconds + phases.tls.sumSeconds;
      assert.ok(split <= sumSeconds + 1e-9, `dns + tcp + tls = ${split} s within the total ${sumSeconds} s`);
      assert.ok(phases.tls.sumSeconds > 0 && phases.tcp.sumSeconds > 0);
    });

    it('has no dns phase for an IP address and no tls phase for http', async (t) => {
      const server = await startServer();
      const dispatcher = new lib.Agent();
      t.after(() => dispatcher.close());
      await (await lib.request(`${server.origin}/`, { dispatcher } as never)).body.text();
      const { count, phases } = figuresFor(agent, server).connectionSetup;
      assert.equal(server.truth.connections, 1);
      assert.equal(count, 1);
      assert.deepEqual([phases.dns.count, phases.tcp.count, phases.tls.count], [0, 1, 0]);
    });

    it('times the setup of sockets a connector of the app\'s own makes, concurrent ones and one after a refusal included, without phases', async (t) => {
      // Answers wait until all are in, so each request takes a socket of its own.
      const waiting: Array<() => void> = [];
      let allArrivedAt = NaN;
      const server = await startServer({
        handler: (request, response) => {
          request.resume();
          waiting.push(() => response.end('ok'));
          if (waiting.length < CONNECTIONS) return;
          allArrivedAt = performance.now();
          for (const answer of waiting.splice(0)) answer();
        },
      });
      // CONNECTIONS sockets at once: all but one from an Agent's pool, and one from a Client used
      // alone whose first attempt was refused STALE_MS before. A setup timed from the refused
      // attempt's start would include those STALE_MS.
      const dispatcher = new lib.Agent({ connect: ownConnector as never, connections: CONNECTIONS - 1 });
      const single = new lib.Client(server.origin, { connect: refusedFirst(await closedPort()) } as never);
      t.after(() => Promise.all([dispatcher.close(), single.close()]));
      await assert.rejects(lib.request(`${server.origin}/`, { dispatcher: single } as never), /ECONNREFUSED/);
      await sleep(STALE_MS);
      const startedAt = performance.now();
      await Promise.all([...Array.from({ length: CONNECTIONS - 1 }, () => dispatcher), single].map(async (through) =>
        (await lib.request(`${server.origin}/`, { dispatcher: through } as never)).body.text()));
      // Every socket had connected before its request reached the server.
      const wallSeconds = (allArrivedAt - startedAt) / 1000;
      assert.equal(server.truth.connections, CONNECTIONS);
      const { connectionErrors, connectionSetup: { count, sumSeconds, phases } } = figuresFor(agent, server);
      assert.deepEqual(connectionErrors, { ECONNREFUSED: 1 });
      assert.equal(count, CONNECTIONS, 'a setup per socket');
      // Each connect began after startedAt and ended before allArrivedAt: no setup is longer.
      assert.ok(sumSeconds > 0 && sumSeconds <= CONNECTIONS * wallSeconds,
        `setup ${sumSeconds} s in all, each within the ${wallSeconds} s from the requests' start to their arrival: each attempt paired with its own outcome`);
      assert.deepEqual([phases.dns.count, phases.tcp.count, phases.tls.count], [0, 0, 0]);
    });
  });
}
