import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { advisedKeepAliveMs, KEEP_ALIVE_HEADROOM, MAX_SENSIBLE_KEEP_ALIVE_MS } from '../dashboards/src/alerts.ts';
import * as report from '../dist/cli/report/keep-alive.js';
import { needs, requireProgram, run } from './helpers/prometheus.ts';

/**
 * Gaps' p95 in seconds: advice below 10 ms (step 1 ms), of every digit count, rounded up or
 * already round (1 s gives 1500), and on both sides of the 60 s cap.
 */
const GAP_P95_SECONDS = [0.0004, 0.003, 0.0975, 0.98, 1, 4.95, 6.6, 39.9, 40, 58.5, 117, 300];

const scratch = mkdtempSync(join(tmpdir(), 'poolscope-keep-alive-advice-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('the keepAliveTimeout the churn alert advises', () => {
  it('has the headroom and the cap of poolscope report\'s advice', () => {
    assert.equal(KEEP_ALIVE_HEADROOM, report.KEEP_ALIVE_HEADROOM);
    assert.equal(MAX_SENSIBLE_KEEP_ALIVE_MS, report.MAX_SENSIBLE_KEEP_ALIVE_MS);
  });

  it('is, computed by Prometheus, the figure poolscope report gives', { skip: needs('promtool') }, async () => {
    const gaps = GAP_P95_SECONDS.map((seconds, i) => ({ labels: `{gap="${i}"}`, seconds }));
    const unitTests = join(scratch, 'advice.test.yml');
    writeFileSync(unitTests, stringify({
      rule_files: [],
      tests: [{
        interval: '1m',
        input_series: gaps.map(({ labels, seconds }) => ({ series: `gap_p95_seconds${labels}`, values: String(seconds) })),
        promql_expr_test: [{
          expr: advisedKeepAliveMs('gap_p95_seconds'),
          eval_time: '0m',
          exp_samples: gaps.map(({ labels, seconds }) => ({ labels, value: report.advisedKeepAliveMs(seconds) })),
        }],
      }],
    }));
    const result = await run(requireProgram('promtool'), ['test', 'rules', unitTests]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });
});
