import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { OUTPUTS } from '../dashboards/src/generate.ts';
import { dashboardsDir } from './helpers/dashboards.ts';
import { needs, requireProgram, run } from './helpers/prometheus.ts';

const rulesFile = fileURLToPath(new URL(OUTPUTS.rules, dashboardsDir));
const testsFile = fileURLToPath(new URL('alerts/poolscope.rules.test.yml', dashboardsDir));
const scratch = mkdtempSync(join(tmpdir(), 'poolscope-rules-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

interface RulesFile { groups: { rules: { alert?: string; record?: string }[] }[] }
const readRules = () => parse(readFileSync(rulesFile, 'utf8')) as RulesFile;
const ruleCount = () => readRules().groups.reduce((count, group) => count + group.rules.length, 0);

interface AlertTest { eval_time: string; alertname: string; exp_alerts: unknown[] }
interface UnitTest { name: string; alert_rule_test?: AlertTest[] }

describe('promtool', { skip: needs('promtool') }, () => {
  it('check rules accepts the rules file and the PrometheusRule\'s groups', async () => {
    const promtool = requireProgram('promtool');
    const manifest = parse(readFileSync(new URL(OUTPUTS.prometheusRule, dashboardsDir), 'utf8')) as { spec: { groups: unknown } };
    const fromManifest = join(scratch, 'prometheusrule-groups.yml');
    writeFileSync(fromManifest, JSON.stringify({ groups: manifest.spec.groups }));
    for (const file of [rulesFile, fromManifest]) {
      const result = await run(promtool, ['check', 'rules', file]);
      assert.equal(result.code, 0, `${file}: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout, new RegExp(`SUCCESS: ${ruleCount()} rules found`));
    }
  });

  it('test rules passes every unit test: healthy, low reuse, low traffic, never reused, blip, recovery and each alert', async () => {
    const result = await run(requireProgram('promtool'), ['test', 'rules', testsFile]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /SUCCESS/);
  });

});

describe('promtool unit tests', () => {
  it('the unit tests see every alert both fire and stay quiet', () => {
    const alerts = readRules().groups.flatMap((group) => group.rules).flatMap((rule) => rule.alert ?? []);
    const tests = (parse(readFileSync(testsFile, 'utf8')) as { tests: UnitTest[] }).tests;
    const cases = tests.flatMap((test) => test.alert_rule_test ?? []);
    for (const alert of alerts) {
      assert.ok(cases.some((c) => c.alertname === alert && c.exp_alerts.length > 0), `${alert} fires in a test`);
      assert.ok(cases.some((c) => c.alertname === alert && c.exp_alerts.length === 0), `${alert} stays quiet in a test`);
    }
    const names = tests.map((test) => test.name);
    for (const scenario of ['healthy traffic', 'low reuse', 'low traffic', 'never reused', 'blip', 'recovery']) {
      assert.ok(names.some((name) => name.includes(scenario)), `a test of ${scenario}`);
    }
  });
});
