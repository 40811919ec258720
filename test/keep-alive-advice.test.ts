import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diagnose } from '../dist/cli/report/diagnose.js';
import { parseExposition } from '../dist/cli/report/exposition.js';
import { collectFigures } from '../dist/cli/report/figures.js';
import { advisedKeepAliveMs } from '../dist/cli/report/keep-alive.js';

const LABELS = 'server_address="api.example.com",server_port="443",url_scheme="https",poolscope_pool_type="undici"';

/** An exposition of one origin whose 10 reopens all came after gaps in the bucket (`below`, `gapBucket`] seconds. */
function churningOrigin(below: string, gapBucket: string): string {
  return [
    `poolscope_client_requests_total{${LABELS},poolscope_connection_reused="true"} 40`,
    `poolscope_client_requests_total{${LABELS},poolscope_connection_reused="false"} 12`,
    `poolscope_client_connections_opened_total{${LABELS},network_protocol_version="1.1"} 12`,
    `poolscope_client_connections_reopened_total{${LABELS}} 10`,
    `poolscope_client_pools_created_total{${LABELS}} 1`,
    `poolscope_client_connection_reopened_after_bucket{${LABELS},le="${below}"} 0`,
    `poolscope_client_connection_reopened_after_bucket{${LABELS},le="${gapBucket}"} 10`,
    `poolscope_client_connection_reopened_after_bucket{${LABELS},le="+Inf"} 10`,
    `poolscope_client_connection_reopened_after_count{${LABELS}} 10`,
  ].join('\n');
}

function churnChange(below: string, gapBucket: string): string {
  const figures = collectFigures([parseExposition(churningOrigin(below, gapBucket))]);
  const origin = figures.origins.get('https://api.example.com:443')!;
  const findings = diagnose(origin, figures.present, { minRequests: 20, reuseTarget: 0.85 });
  const churn = findings.find((finding) => finding.kind === 'keep-alive-churn');
  assert.ok(churn, JSON.stringify(findings));
  return churn.change;
}

describe('the keep-alive poolscope advises', () => {
  it('is the gaps\' p95 with half again as headroom, rounded up to two significant digits', () => {
    assert.equal(advisedKeepAliveMs(0.975), 1500);
    assert.equal(advisedKeepAliveMs(0.048), 72);
    assert.equal(advisedKeepAliveMs(0.004), 6);
    assert.equal(advisedKeepAliveMs(9.6), 15_000);
    assert.equal(advisedKeepAliveMs(33), 50_000);
  });

  it('names that figure for gaps of seconds, above every gap of their bucket', () => {
    // Gaps up to 5 s, the p95 interpolated in (4, 5] as histogram_quantile does: 4.95 s.
    const change = churnChange('4', '5');
    assert.match(change, /keepAliveTimeout: 7500 /);
    assert.deepEqual(change.match(/\d+/g), ['7500'], change);
  });

  it('says no keep-alive covers gaps of minutes, rather than naming one', () => {
    const change = churnChange('60', '120');
    assert.doesNotMatch(change, /keepAliveTimeout: \d/);
    assert.match(change, /No keep-alive covers these gaps: they run past a minute/);
  });
});
