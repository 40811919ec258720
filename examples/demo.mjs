// Two ways to call the same API on this machine, under poolscope: a new undici Agent for every
// call (the anti-pattern), and one shared Agent. Run with `npm run demo`.
import { createServer } from 'node:http';
import { Agent, request } from 'undici8';
import { start } from 'poolscope';

const CALLS = 30;
const agent = await start();

function api() {
  const server = createServer((req, res) => {
    req.resume();
    setTimeout(() => res.end(JSON.stringify({ ok: true })), 5);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function scenario(name, server, dispatcherFor) {
  const url = `http://127.0.0.1:${server.address().port}/v1/messages`;
  const started = performance.now();
  for (let i = 0; i < CALLS; i++) {
    const dispatcher = dispatcherFor();
    const response = await request(url, { method: 'POST', body: '{}', dispatcher });
    await response.body.text();
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return { name, url, wallMs: performance.now() - started };
}

const perRequest = await api();
const shared = await api();
const sharedAgent = new Agent();
const runs = [
  await scenario('client-per-request', perRequest, () => new Agent()),
  await scenario('shared-pool', shared, () => sharedAgent),
];

const figures = agent.snapshot();
const rows = runs.map((run) => {
  const origin = figures.find((f) => run.url.startsWith(f.origin + '/'));
  return {
    scenario: run.name,
    requests: origin.requests,
    'reuse rate': `${Math.round(100 * (origin.reuseRatio ?? 0))}%`,
    'connections opened': origin.connectionsOpened,
    'setup (typical)': `${((origin.typicalSetupSeconds ?? 0) * 1000).toFixed(2)} ms`,
    'time saved': `${(origin.savedSeconds * 1000).toFixed(1)} ms`,
    'wall time': `${run.wallMs.toFixed(0)} ms`,
  };
});
console.table(rows);
console.log(agent.metricsUrl ? `The same figures are on ${agent.metricsUrl} while this runs.` : '');
await sharedAgent.close();
perRequest.close();
shared.close();
await agent.shutdown();
