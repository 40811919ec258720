import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { METRICS } from 'poolscope';
import { metricRows, readmeRows } from './helpers/metric-table.ts';

const contractPath = new URL('../../shared/METRICS.md', import.meta.url);
const hasContract = existsSync(contractPath);
const PROTOCOL_VERSION = 'network.protocol.version';

describe('metric names', () => {
  it('the README table is exactly the catalog', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const tableLines = readme.split('\n').filter((line) => /^\| `(undici|http)\.client\./.test(line));
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
