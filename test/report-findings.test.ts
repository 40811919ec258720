import assert from 'node:assert/strict';
import { it } from 'node:test';
import { diagnose } from '../dist/cli/report/diagnose.js';
import { parseExposition } from '../dist/cli/report/exposition.js';
import { collectFigures, mean, quantile } from '../dist/cli/report/figures.js';

const LABELS = 'server_address="ledger.internal",server_port="443",url_scheme="https",poolscope_pool_type="undici"';

function findings(lines: string[]) {
  const figures = collectFigures([parseExposition(lines.join('\n'))]);
  return diagnose(figures.origins.get('https://ledger.internal:443')!, figures.present, { minRequests: 20, reuseTarget: 0.85 });
}

it('an origin whose every connection fails is told so, not judged as too little traffic', () => {
  const refused = findings([
    `poolscope_client_requests_total{${LABELS},poolscope_connection_reused="true"} 0`,
    `poolscope_client_requests_total{${LABELS},poolscope_connection_reused="false"} 0`,
    `poolscope_client_connection_errors_total{${LABELS},error_type="ECONNREFUSED"} 12`,
  ]);
  assert.deepEqual(refused.map((finding) => finding.kind), ['connect-errors']);
  assert.match(refused[0]!.evidence, /^12 failed connection attempts \(ECONNREFUSED 12\)/);

  const quiet = findings([
    `poolscope_client_requests_total{${LABELS},poolscope_connection_reused="true"} 0`,
    `poolscope_client_requests_total{${LABELS},poolscope_connection_reused="false"} 3`,
  ]);
  assert.deepEqual(quiet.map((finding) => finding.kind), ['too-little-traffic']);
});

it('reads no quantile from a histogram with sum and count only (POOLSCOPE_HISTOGRAMS=minimal), and its mean', () => {
  const figures = collectFigures([parseExposition([
    `poolscope_client_connection_setup_duration_bucket{${LABELS},le="+Inf"} 4`,
    `poolscope_client_connection_setup_duration_sum{${LABELS}} 0.2`,
    `poolscope_client_connection_setup_duration_count{${LABELS}} 4`,
  ].join('\n'))]);
  const setup = figures.origins.get('https://ledger.internal:443')!.setupDuration;
  assert.equal(quantile(setup, 0.5), null);
  assert.equal(mean(setup), 0.05);
});
