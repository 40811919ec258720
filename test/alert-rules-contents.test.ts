import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { DEFAULT_RULE_OPTIONS } from '../dashboards/src/alerts.ts';
import { OUTPUTS } from '../dashboards/src/generate.ts';
import { REUSE_TARGET } from '../dashboards/src/library.ts';
import { catalogNames, contractNames, dashboardsDir, metricNamesIn } from './helpers/dashboards.ts';

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  keep_firing_for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Group { name: string; rules: Rule[] }

const read = (path: string) => readFileSync(new URL(path, dashboardsDir), 'utf8');
const groups = (parse(read(OUTPUTS.rules)) as { groups: Group[] }).groups;
const rules = groups.flatMap((group) => group.rules);
const alerts = rules.filter((rule) => rule.alert !== undefined);
const recordings = rules.filter((rule) => rule.record !== undefined);
const contract = contractNames();
/** What a summary names an origin by. */
const ADDRESS_LABELS = ['url_scheme', 'server_address', 'server_port'];
/** What rules group an origin by: its address and the kind of pool that called it. */
const ORIGIN_LABELS = [...ADDRESS_LABELS, 'poolscope_pool_type'];

/** The anchor GitHub gives a markdown heading. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
}

describe('alert and recording rules', () => {
  it('name recording rules level:metric:operations, the level naming the labels kept', () => {
    assert.ok(recordings.length >= 10);
    for (const { record, expr } of recordings) {
      const [level, name, operations] = record!.split(':');
      assert.ok(level && name && operations, `${record} has three parts`);
      assert.match(operations!, /^(rate|ratio_rate|p\d\d_rate|max_over_time)\d+[mh]$/, record);
      const by = /^(?:histogram_quantile\(0\.\d+, )?(?:sum|max) by \(([^)]*)\)/.exec(expr)?.[1];
      if (by === undefined) continue; // a ratio of two recorded series of the same level
      const labels = by.split(', ').filter((label) => label !== 'le');
      const expected = ['job', ...ORIGIN_LABELS, ...(level === 'job_origin_error_type' ? ['error_type'] : [])];
      assert.equal(level, level === 'job_origin_error_type' ? 'job_origin_error_type' : 'job_origin', record);
      assert.deepEqual(labels, expected, `${record} keeps exactly the labels its level names`);
    }
  });

  it('give every alert a severity, a for, a keep_firing_for, a summary, a description with figures and a runbook section', () => {
    const readme = read('README.md');
    const anchors = new Set([...readme.matchAll(/^#{1,6} (.+)$/gm)].map((match) => slug(match[1]!)));
    assert.equal(alerts.length, 5);
    for (const rule of alerts) {
      assert.ok(['critical', 'warning', 'info'].includes(rule.labels?.severity ?? ''), `${rule.alert} severity`);
      assert.match(rule.for ?? '', /^\d+m$/, `${rule.alert} for`);
      assert.match(rule.keep_firing_for ?? '', /^\d+m$/, `${rule.alert} keep_firing_for`);
      const { summary, description, runbook_url: runbook } = rule.annotations ?? {};
      for (const label of ['job', ...ADDRESS_LABELS]) {
        assert.ok(summary?.includes(`$labels.${label}`), `${rule.alert} summary names ${label}`);
      }
      assert.ok(description?.includes('$value'), `${rule.alert} description gives the figure`);
      assert.ok(runbook?.startsWith(`${DEFAULT_RULE_OPTIONS.runbookUrl}#`), `${rule.alert} runbook_url`);
      const anchor = runbook!.split('#')[1]!;
      assert.ok(anchors.has(anchor), `dashboards/README.md has a section #${anchor}`);
    }
  });

  it('read, in a description\'s figures, the series of the alert\'s own job and origin, pool type included', () => {
    let queries = 0;
    for (const rule of alerts) {
      for (const [, query, args] of (rule.annotations?.description ?? '').matchAll(/printf `([^`]*)` ([^|]*)\|/g)) {
        queries++;
        const labels = [...args!.matchAll(/\$labels\.(\w+)/g)].map((m) => m[1]!);
        assert.deepEqual(labels, ['job', ...ORIGIN_LABELS], `${rule.alert}: printf's arguments`);
        const sameOrigin = `{${labels.map((label, i) => `${label}="%[${i + 1}]s"`).join(',')}}`;
        for (const [, name, matchers] of query!.matchAll(/([\w:]+)(\{[^}]*\})?/g)) {
          const isSeries = name!.includes(':') || metricNamesIn(name!).length > 0;
          if (isSeries) assert.equal(matchers, sameOrigin, `${rule.alert}: ${name} is selected for the alert's origin`);
        }
      }
    }
    assert.ok(queries >= 6, `${queries} figures`);
  });

  it('look at a window shorter than their for, so one burst cannot fire them', () => {
    const minutes = (duration: string) => Number(duration.slice(0, -1)) * (duration.endsWith('h') ? 60 : 1);
    for (const rule of alerts) {
      const windows = [...rule.expr.matchAll(/:(?:rate|ratio_rate|p\d\d_rate|max_over_time)(\d+[mh])\b/g)].map((m) => minutes(m[1]!));
      assert.ok(windows.length > 0, `${rule.alert} reads recorded rates`);
      assert.ok(Math.min(...windows) < minutes(rule.for!), `${rule.alert}: shortest window < for`);
    }
  });

  it('alert on low reuse over two windows, with enough traffic, at the target the dashboards draw', () => {
    const reuse = alerts.find((rule) => rule.alert === 'PoolscopeLowConnectionReuse')!;
    assert.equal(DEFAULT_RULE_OPTIONS.reuseTarget, REUSE_TARGET);
    assert.match(reuse.expr, new RegExp(`ratio_rate5m < ${REUSE_TARGET}\\b`));
    assert.match(reuse.expr, new RegExp(`ratio_rate1h < ${REUSE_TARGET}\\b`));
    assert.match(reuse.expr, new RegExp(`:rate5m >= ${DEFAULT_RULE_OPTIONS.minRequestsPerSecond}$`));
  });

  it('are listed, with their severities, in the alert tables of both READMEs', () => {
    const expected = alerts.map((rule) => [rule.alert, rule.labels?.severity]);
    for (const readme of [read('README.md'), read('../README.md')]) {
      const rows = [...readme.matchAll(/^\| `(Poolscope\w+)` \| (\w+) \|/gm)].map((m) => [m[1], m[2]]);
      assert.deepEqual(rows, expected);
    }
  });

  it('ship the same groups as a Kubernetes PrometheusRule', () => {
    const manifest = parse(read(OUTPUTS.prometheusRule)) as { apiVersion: string; kind: string; metadata: { name: string }; spec: { groups: Group[] } };
    assert.equal(manifest.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(manifest.kind, 'PrometheusRule');
    assert.equal(manifest.metadata.name, 'poolscope');
    assert.deepEqual(manifest.spec.groups, groups);
  });

  const used = new Set(rules.flatMap((rule) => [rule.expr, ...Object.values(rule.annotations ?? {})].flatMap(metricNamesIn)));

  it('use only metric names poolscope exports', () => {
    assert.ok(used.size >= 8, `${used.size} names`);
    const exported = catalogNames();
    for (const name of used) assert.ok(exported.has(name), `${name} is in poolscope's catalog`);
  });

  it('use only metric names of the contract (shared/METRICS.md)', { skip: !contract && 'no shared/METRICS.md beside this clone' }, () => {
    for (const name of used) assert.ok(contract!.has(name), `${name} is in the contract`);
  });
});
