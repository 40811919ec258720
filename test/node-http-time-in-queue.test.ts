// Time in queue through an http.Agent with maxSockets: 2 and ten concurrent requests to a server
// that answers after 200 ms: requests wait inside the Agent in waves of two. Every request has a
// time in queue, from its creation to a connected socket, and the waves waited at least 200, 400,
// 600 and 800 ms. Bounded below by the server's delay only: no wall-time upper bound is asserted.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, it } from 'node:test';
import { start } from 'poolscope';
import { scrape } from './helpers/agent.ts';
import { agentFiguresFor, assertAgentMatchesServer, nodeRequest } from './helpers/node-http.ts';
import { eventually, startServer } from './helpers/servers.ts';

const DELAY_MS = 200;
const REQUESTS = 10;
const MAX_SOCKETS = 2;

const agent = await start({ exporters: ['prometheus'], host: '127.0.0.1', port: 0 });
after(() => agent.shutdown());

/** The cumulative bucket counts of one histogram of the http.Agent series of `port`, by `le`. */
function buckets(exposition: string, metric: string, port: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${metric}_bucket{`) || !line.includes(`server_port="${port}"`) || !line.includes('poolscope_pool_type="http.Agent"')) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    if (le !== undefined) counts.set(le, Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return counts;
}

it('counts a time in queue for every request of ten through maxSockets: 2, the waves waiting 200, 400, 600 and 800 ms', async () => {
  const server = await startServer({
    handler: (request, response) => {
      request.resume();
      setTimeout(() => response.end('ok'), DELAY_MS);
    },
  });
  const limited = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
  after(() => limited.destroy());
  const bodies = await Promise.all(Array.from({ length: REQUESTS }, (_, i) => nodeRequest(`${server.origin}/queued/${i}`, { agent: limited })));
  assert.deepEqual(bodies.map((b) => b.body), Array(REQUESTS).fill('ok'));
  await eventually(() => assertAgentMatchesServer(agent, server));

  const figures = agentFiguresFor(agent, server);
  assert.equal(server.truth.connections, MAX_SOCKETS);
  assert.equal(figures.requestsOnNewConnections, MAX_SOCKETS);
  assert.equal(figures.requestsOnReusedConnections, REQUESTS - MAX_SOCKETS, 'a queued request handed a freed socket reuses it');
  assert.equal(figures.timeInQueue.count, REQUESTS, 'every request has a time in queue');
  // Wave k (from 0) waited for k responses of 200 ms each, one after the other. Less 1 ms per
  // response: a timer may fire a millisecond early by the clock it is measured with.
  const waited = ((DELAY_MS - 1) / 1000) * MAX_SOCKETS * (1 + 2 + 3 + 4);
  assert.ok(figures.timeInQueue.sumSeconds >= waited, `time in queue in all: ${figures.timeInQueue.sumSeconds} s, at least ${waited} s`);
  assert.ok(figures.timeInQueue.p95Seconds !== null && figures.timeInQueue.p95Seconds >= 0.5, `p95 ${figures.timeInQueue.p95Seconds} s`);
  assert.equal(figures.activeRequests, 0);

  // The default buckets tell the waiting requests apart: at least 8 waited over 100 ms (>= 200).
  const exposition = await scrape(agent.metricsUrl!);
  const counts = buckets(exposition, 'http_client_request_time_in_queue', server.port);
  const over = (le: string) => REQUESTS - (counts.get(le) ?? NaN);
  assert.equal(counts.get('+Inf'), REQUESTS);
  assert.ok(over('0.1') >= 8, `over 0.1 s: ${over('0.1')}`);
  // All ten were active at once, eight of them waiting in the Agent.
  const peak = exposition.split('\n').find((line) => line.startsWith('poolscope_client_active_requests_peak{') && line.includes(`server_port="${server.port}"`));
  assert.equal(peak?.slice(peak.lastIndexOf(' ') + 1), String(REQUESTS));
});
