import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { render } from '../dashboards/src/generate.ts';
import { dashboardsDir } from './helpers/dashboards.ts';

describe('generated dashboards and rules', () => {
  for (const [path, content] of render()) {
    it(`dashboards/${path} is what dashboards/src generates (run \`npm run dashboards\` after editing the source)`, () => {
      assert.equal(readFileSync(new URL(path, dashboardsDir), 'utf8'), content);
    });
  }
});
