import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { METRICS, start } from 'poolscope';
import { ATTR_POOL_TYPE, type PoolType } from '../dist/metrics/catalog.js';
import { parseExposition } from '../dist/cli/report/exposition.js';
import { SERIES } from '../dist/cli/report/series.js';
import { scrape } from './helpers/agent.ts';
import { undici8 } from './helpers/clients.ts';
import { metricRows, readmeRows } from './helpers/metric-table.ts';
import { closedPort, sleep, startServer } from './helpers/servers.ts';

const contractPath = new URL('../../shared/METRICS.md', import.meta.url);
const hasContract = existsSync(contractPath);
const PROTOCOL_VERSION = 'network.protocol.version';

describe('metric names', () => {
  it('the README table is exactly the catalog', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const tableLines = readme.split('\n').filter((line) => /^\| `(poolscope|http)\.client\./.test(line));
    assert.deepEqual(tableLines, readmeRows());
  });

  it('the catalog keeps the contract: names, instruments, units and attributes', { skip: !hasContract && 'no shared/METRICS.md beside this clone' }, () => {
    const text = readFileSync(contractPath, 'utf8');
    assert.match(text, /Connection series may add `network\.protocol\.version`/);
    const contract = metricRows(text);
    assert.deepEqual(Object.values(METRICS).map((spec) => spec.name).sort(), [...contract.keys()].sort());
    for (const spec of Object.values(METRICS)) {
      const [instrument, unit, extra] = contract.get(spec.name)!;
      assert.equal(spec.instrument, instrument, spec.name);
      assert.equal(`\`${spec.unit}\``, unit, spec.name);
      const attributes = [...(extra ?? '').matchAll(/`([a-z_]+(?:\.[a-z_]+)+)`/g)].map((m) => m[1]);
      // "Connection series may add network.protocol.version": only they, and only that one.
      const mayAdd = spec.name.includes('connection') && !attributes.includes(PROTOCOL_VERSION) ? [PROTOCOL_VERSION] : [];
      const beyondContract = spec.extraAttributes.filter((name) => !attributes.includes(name));
      assert.deepEqual(spec.extraAttributes.filter((name) => attributes.includes(name)), attributes, spec.name);
      assert.deepEqual(beyondContract.filter((name) => !mayAdd.includes(name)), [], spec.name);
    }
  });
});

describe('the pool type on every series', () => {
  it('the contract names poolscope.pool.type and the values the catalog gives it', { skip: !hasContract && 'no shared/METRICS.md beside this clone' }, () => {
    const text = readFileSync(contractPath, 'utf8');
    const row = text.split('\n').find((line) => line.startsWith(`| \`${ATTR_POOL_TYPE}\``));
    assert.ok(row, `${ATTR_POOL_TYPE} in the contract's attribute table`);
    const values: PoolType[] = ['undici', 'http.Agent'];
    for (const value of values) assert.ok(row.includes(`\`${value}\``), `${value} in ${row}`);
  });

  it('every series /metrics exports for an origin says which kind of pool carried it', async () => {
    const agent = await start({ exporters: ['prometheus'], host: '127.0.0.1', port: 0, instrumentGlobalDispatcher: false });
    try {
      // No Keep-Alive hint from the server: the client's 50 ms keep-alive closes the idle socket.
      const server = await startServer({ keepAliveTimeout: 0 });
      const dispatcher = new undici8.Agent({ keepAliveTimeout: 50 });
      for (let i = 0; i < 3; i++) await (await undici8.request(server.origin, { dispatcher })).body.text();
      // An idle close and a reopen, and a refused connection: every family has a series.
      await sleep(150);
      await (await undici8.request(server.origin, { dispatcher })).body.text();
      await assert.rejects(undici8.request(`http://127.0.0.1:${await closedPort()}/`, { dispatcher }));
      const samples = parseExposition(await scrape(agent.metricsUrl!));
      await dispatcher.close();

      const families = new Set<string>();
      for (const sample of samples) {
        const family = familyOf(sample.name);
        if (family === undefined) continue;
        families.add(family);
        assert.equal(sample.labels.poolscope_pool_type, 'undici', `${sample.name}${JSON.stringify(sample.labels)}`);
      }
      assert.deepEqual([...families].sort(), Object.values(SERIES).sort(), 'every metric of the catalog was exported');
    } finally {
      await agent.shutdown();
    }
  });
});

/** The catalog's Prometheus name a sample belongs to, its histogram suffix taken off; undefined for others. */
function familyOf(name: string): string | undefined {
  const names = new Set(Object.values(SERIES));
  if (names.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return names.has(base) ? base : undefined;
}
