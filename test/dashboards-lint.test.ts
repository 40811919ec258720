import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  allPanels, catalogNames, contractNames, loadDashboards, metricNamesIn, panelQueries, type GridPos, type Panel,
} from './helpers/dashboards.ts';

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
const SELECTED = ['job=~"$job"', 'instance=~"$instance"', 'server_address=~"$origin"', 'poolscope_pool_type=~"$pool_type"'];
const contract = contractNames();

/** The values a unit can take: every poolscope figure is >= 0, a ratio at most 1. */
function unitRange(unit: string): [number, number] | undefined {
  if (unit === 'percentunit') return [0, 1];
  if (unit === 'percent') return [0, 100];
  if (['s', 'ms', 'reqps', 'short', 'none'].includes(unit) || /^suffix: ?\S/.test(unit)) return [0, Infinity];
  return undefined;
}

/** Every `datasource` reference anywhere in a JSON document. */
function datasourceRefs(node: unknown, path = '$'): Array<[string, unknown]> {
  if (typeof node !== 'object' || node === null) return [];
  return Object.entries(node).flatMap(([key, value]) => [
    ...(key === 'datasource' ? [[`${path}.${key}`, value] as [string, unknown]] : []),
    ...datasourceRefs(value, `${path}.${key}`),
  ]);
}

function overlaps(a: GridPos, b: GridPos): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

const contentPanels = (panels: Panel[]) => panels.filter((panel) => panel.type !== 'row');

for (const [file, dashboard] of loadDashboards()) {
  describe(`dashboards/${file}`, () => {
    const panels = allPanels(dashboard);
    const queries = panelQueries(file, dashboard);

    it('has a datasource variable, and every panel, query and variable reads from it', () => {
      const variable = dashboard.templating.list.find((v) => v.type === 'datasource');
      assert.equal(variable?.name, 'datasource');
      assert.equal(variable?.query, 'prometheus');
      const refs = datasourceRefs(dashboard);
      assert.ok(refs.length >= contentPanels(panels).length + queries.length, 'panels and queries name their data source');
      for (const [path, ref] of refs) assert.deepEqual(ref, DATASOURCE, path);
      for (const panel of contentPanels(panels)) {
        assert.deepEqual(panel.datasource, DATASOURCE, panel.title);
        for (const target of panel.targets ?? []) assert.deepEqual(target.datasource, DATASOURCE, `${panel.title} ${target.refId}`);
      }
    });

    it('has job, instance, origin and pool_type variables, multi-select, with All as .+', () => {
      const names = dashboard.templating.list.filter((v) => v.type === 'query').map((v) => v.name);
      assert.deepEqual(names, ['job', 'instance', 'origin', 'pool_type']);
      for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
        assert.equal(variable.multi, true, variable.name);
        assert.equal(variable.includeAll, true, variable.name);
        assert.equal(variable.allValue, '.+', variable.name);
        assert.match(variable.query ?? '', /^label_values\(/, variable.name);
      }
    });

    it('gives every panel a title, a unit and a description of what good and bad look like', () => {
      const titles = new Set<string>();
      for (const panel of panels) {
        assert.ok(panel.title, `panel ${panel.id} has a title`);
        if (panel.type === 'row') continue;
        assert.ok(!titles.has(panel.title), `one panel titled ${panel.title}`);
        titles.add(panel.title);
        const unit = panel.fieldConfig?.defaults?.unit ?? '';
        assert.ok(unitRange(unit), `${panel.title}: unit ${JSON.stringify(unit)} is one the lint knows`);
        for (const override of panel.fieldConfig?.overrides ?? []) {
          const columnUnit = override.properties.find((p) => p.id === 'unit')?.value;
          if (columnUnit !== undefined) assert.ok(unitRange(String(columnUnit)), `${panel.title} / ${override.matcher.options}: unit ${columnUnit}`);
        }
        assert.match(panel.description ?? '', /Good\b[^.]*[:.]/, `${panel.title}: description says what good looks like`);
        assert.match(panel.description ?? '', /Bad\b[^.]*[:.]/, `${panel.title}: description says what bad looks like`);
      }
    });

    it('numbers every panel with a unique id', () => {
      const ids = panels.map((panel) => panel.id);
      assert.ok(ids.every((id) => Number.isInteger(id) && id! > 0), 'every panel has an id');
      assert.equal(new Set(ids).size, ids.length);
    });

    it('lays the panels on the 24-column grid without overlap', () => {
      const placed = dashboard.panels.map((panel) => ({ title: panel.title, pos: panel.gridPos! }));
      for (const { title, pos } of placed) {
        assert.ok(pos && pos.w > 0 && pos.h > 0 && pos.x >= 0 && pos.y >= 0, `${title} has a grid position`);
        assert.ok(pos.x + pos.w <= 24, `${title} fits in 24 columns`);
      }
      for (let i = 0; i < placed.length; i++) {
        for (let j = i + 1; j < placed.length; j++) {
          assert.ok(!overlaps(placed[i]!.pos, placed[j]!.pos), `${placed[i]!.title} and ${placed[j]!.title} overlap`);
        }
      }
    });

    it('keeps thresholds, min and max within the range of each unit', () => {
      for (const panel of contentPanels(panels)) {
        const configs = [
          { where: panel.title, unit: panel.fieldConfig?.defaults?.unit, config: panel.fieldConfig?.defaults as Record<string, unknown> | undefined },
          ...(panel.fieldConfig?.overrides ?? []).map((override) => ({
            where: `${panel.title} / ${override.matcher.options}`,
            unit: override.properties.find((p) => p.id === 'unit')?.value as string | undefined,
            config: Object.fromEntries(override.properties.map((p) => [p.id, p.value])),
          })),
        ];
        for (const { where, unit, config } of configs) {
          if (unit === undefined || config === undefined) continue;
          const [low, high] = unitRange(unit)!;
          const steps = (config.thresholds as { steps: { value: number | null }[] } | undefined)?.steps ?? [];
          if (config === panel.fieldConfig?.defaults) assert.ok(steps.length > 0, `${where} has thresholds`);
          if (steps.length > 0) assert.equal(steps[0]!.value, null, `${where}: the first step is the base`);
          for (const step of steps.slice(1)) {
            assert.ok(typeof step.value === 'number' && step.value >= low && step.value <= high, `${where}: threshold ${step.value} within [${low}, ${high}] for ${unit}`);
          }
          for (const key of ['min', 'max'] as const) {
            const value = config[key];
            if (value !== undefined) assert.ok(typeof value === 'number' && value >= low && value <= high, `${where}: ${key} ${value} within the unit's range`);
          }
        }
      }
    });

    it('queries only the selected job, instance, origin and pool type, over $__rate_interval (tables over $__range)', () => {
      assert.ok(queries.length > 20, `${queries.length} queries`);
      for (const query of queries) {
        const where = `${query.panel} ${query.refId}`;
        const windows = [...query.expr.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]);
        assert.ok(windows.length > 0 || !/rate\(/.test(query.expr), `${where} has rate windows`);
        for (const window of windows) assert.equal(window, query.instant ? '$__range' : '$__rate_interval', where);
        const selectors = [...query.expr.matchAll(/\b((?:poolscope|http)_client_\w+)(\{[^}]*\})?/g)];
        assert.ok(selectors.length > 0, `${where} reads a poolscope metric`);
        for (const [, name, matchers] of selectors) {
          for (const matcher of SELECTED) assert.ok(matchers?.includes(matcher), `${where}: ${name} is selected with ${matcher}`);
        }
      }
    });

    it('never divides by zero, and drops the NaN of a histogram without observations', () => {
      for (const query of queries) {
        const where = `${query.panel} ${query.refId}`;
        const [, ...denominators] = query.expr.split('\n/\n');
        for (const denominator of denominators) assert.match(denominator, /^\(.*> 0\)$/s, `${where}: the denominator is guarded`);
        assert.equal(query.expr.split('/').length - 1, denominators.length, `${where}: every division is a guarded ratio`);
        if (query.expr.includes('histogram_quantile')) assert.match(query.expr, /\) >= 0$/, `${where}: NaN quantiles are dropped`);
      }
    });

    const used = new Set([...queries.map((query) => query.expr), ...dashboard.templating.list.map((v) => v.query ?? '')].flatMap(metricNamesIn));

    it('uses only metric names poolscope exports', () => {
      assert.ok(used.size >= 15, `${used.size} metric names used`);
      const exported = catalogNames();
      for (const name of used) assert.ok(exported.has(name), `${name} is in poolscope's catalog`);
    });

    it('uses only metric names of the contract (shared/METRICS.md)', { skip: !contract && 'no shared/METRICS.md beside this clone' }, () => {
      for (const name of used) assert.ok(contract!.has(name), `${name} is in the contract`);
    });
  });
}
