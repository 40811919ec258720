import { existsSync, readFileSync } from 'node:fs';
import { METRICS } from 'poolscope';
import { OUTPUTS } from '../../dashboards/src/generate.ts';
import { metricRows } from './metric-table.ts';

export const dashboardsDir = new URL('../../dashboards/', import.meta.url);

export interface GridPos { x: number; y: number; w: number; h: number }
export interface Target { refId?: string; expr?: string; legendFormat?: string; instant?: boolean; format?: string; datasource?: unknown }
export interface Panel {
  id?: number;
  type: string;
  title?: string;
  description?: string;
  gridPos?: GridPos;
  datasource?: unknown;
  targets?: Target[];
  panels?: Panel[];
  fieldConfig?: {
    defaults?: { unit?: string; min?: number; max?: number; thresholds?: { steps: { value: number | null; color: string }[] } };
    overrides?: { matcher: { id: string; options: string }; properties: { id: string; value: unknown }[] }[];
  };
}
export interface Variable {
  type: string;
  name: string;
  query?: string;
  datasource?: unknown;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
}
export interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

/** The committed dashboards, by file name. */
export function loadDashboards(): Map<string, Dashboard> {
  return new Map([OUTPUTS.overview, OUTPUTS.originDetail].map((file) =>
    [file, JSON.parse(readFileSync(new URL(file, dashboardsDir), 'utf8')) as Dashboard]));
}

/** Every panel, rows included, and the panels inside collapsed rows. */
export function allPanels(dashboard: Dashboard): Panel[] {
  return dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
}

/** One query a panel runs, with what it belongs to. */
export interface PanelQuery { dashboard: string; panel: string; refId: string; expr: string; instant: boolean }

export function panelQueries(name: string, dashboard: Dashboard): PanelQuery[] {
  return allPanels(dashboard).flatMap((panel) => (panel.targets ?? []).map((target) => ({
    dashboard: name,
    panel: panel.title ?? '(untitled)',
    refId: target.refId ?? '?',
    expr: target.expr ?? '',
    instant: target.instant === true,
  })));
}

/** Prometheus names of a metric: counters end in `_total`, histograms have three series. */
function prometheusNames(name: string, instrument: string): string[] {
  const base = name.replaceAll('.', '_');
  if (instrument === 'Counter') return [`${base}_total`];
  if (instrument === 'Histogram') return ['_bucket', '_sum', '_count'].map((suffix) => base + suffix);
  return [base];
}

/** The Prometheus names the metric contract (shared/METRICS.md) promises, when it is beside this clone. */
export function contractNames(): Set<string> | undefined {
  const path = new URL('../../../shared/METRICS.md', import.meta.url);
  if (!existsSync(path)) return undefined;
  return new Set([...metricRows(readFileSync(path, 'utf8'))].flatMap(([name, [instrument]]) => prometheusNames(name, instrument!)));
}

/** The Prometheus names of every metric poolscope's catalog exports. */
export function catalogNames(): Set<string> {
  return new Set(Object.values(METRICS).flatMap((spec) => prometheusNames(spec.name, spec.instrument)));
}

/** poolscope's metric names in a PromQL expression (recording-rule names, `level:metric:op`, excluded). */
export function metricNamesIn(expr: string): string[] {
  return [...expr.matchAll(/(?<![:\w])((?:poolscope|http)_client_\w+)(?![:\w])/g)].map((match) => match[1]!);
}

/**
 * A variable's value as Grafana's Prometheus data source writes it into a query: for a
 * multi-value or All-able variable, each value regex-escaped, several joined as `(a|b)`.
 */
export function interpolateRegex(values: readonly string[]): string {
  const escaped = values.map((value) => value.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&'));
  return escaped.length === 1 ? escaped[0]! : `(${escaped.join('|')})`;
}

/** Replaces `$name` and `${name}` in a query, longest names first. */
export function substitute(expr: string, values: Record<string, string>): string {
  let result = expr;
  for (const name of Object.keys(values).sort((a, b) => b.length - a.length)) {
    const value = values[name]!;
    result = result.replaceAll(`\${${name}}`, () => value).replaceAll(`$${name}`, () => value);
  }
  return result;
}
