import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { METRICS } from 'poolscope';
import { metricRows, readmeRows } from './helpers/metric-table.ts';

const contractPath = new URL('../../shared/METRICS.md', import.meta.url);
const hasContract = existsSync(contractPath);

describe('metric names', () => {
  it('the README table is exactly the catalog', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const tableLines = readme.split('\n').filter((line) => /^\| `(undici|http)\.client\./.test(line));
    assert.deepEqual(tableLines, readmeRows());
  });

  it('the catalog keeps the contract: names, instruments, units and attributes', { skip: !hasContract && 'no shared/METRICS.md beside this clone' }, () => {
    const contract = metricRows(readFileSync(contractPath, 'utf8'));
    assert.deepEqual(Object.values(METRICS).map((spec) => spec.name).sort(), [...contract.keys()].sort());
    for (const spec of Object.values(METRICS)) {
      const [instrument, unit, extra] = contract.get(spec.name)!;
      assert.equal(spec.instrument, instrument, spec.name);
      assert.equal(`\`${spec.unit}\``, unit, spec.name);
      const attributes = [...(extra ?? '').matchAll(/`([a-z_]+(?:\.[a-z_]+)+)`/g)].map((m) => m[1]);
      assert.deepEqual([...spec.extraAttributes], attributes, spec.name);
    }
  });
});
