/**
 * Panel specs (title, unit, description, queries) turned into Grafana panels with the
 * foundation SDK, laid out on the 24-column grid row by row.
 */
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

/** Every panel, query and variable reads from the data source the `datasource` variable picks. */
export const DATASOURCE = { type: 'prometheus', uid: '${datasource}' } as const;

export interface Query {
  readonly expr: string;
  readonly legend?: string;
}

/** Colours by value: `base` below the first step, then each step's colour from its value up. */
export interface Thresholds {
  readonly base: string;
  readonly steps: readonly { readonly value: number; readonly color: string }[];
}

interface PanelCommon {
  readonly title: string;
  /** What the panel shows, and what good and bad look like. */
  readonly description: string;
  /** A Grafana unit id (`percentunit`, `s`, `reqps`, `short`, `suffix:conn/s`, ...). */
  readonly unit: string;
  /** Columns of the 24-column grid. */
  readonly width: number;
  readonly min?: number;
  readonly max?: number;
  readonly thresholds?: Thresholds;
}

export interface TimeSeriesPanel extends PanelCommon {
  readonly kind: 'timeseries';
  readonly queries: readonly Query[];
  /** Stack the series (parts of one whole, like new + reused requests). */
  readonly stack?: boolean;
  /** Draw the thresholds as dashed lines (the 85% reuse target). */
  readonly thresholdLines?: boolean;
}

export interface StatPanel extends PanelCommon {
  readonly kind: 'stat';
  readonly queries: readonly Query[];
}

export interface TableColumn {
  readonly title: string;
  readonly unit: string;
  /** An instant query over the dashboard's time range, one row per origin. */
  readonly expr: string;
  readonly thresholds?: Thresholds;
  readonly min?: number;
  readonly max?: number;
}

export interface TablePanel extends PanelCommon {
  readonly kind: 'table';
  readonly columns: readonly TableColumn[];
  /** Labels that name a row; every column's query must group by exactly these. */
  readonly rowLabels: readonly string[];
  /** The column to sort by, ascending: the worst first. */
  readonly sortBy: string;
  /** A link on the first row label's cells. */
  readonly link?: { readonly title: string; readonly url: string };
}

export type PanelSpec = TimeSeriesPanel | StatPanel | TablePanel;

export interface Row {
  readonly title: string;
  /** Panels of one grid line each; a line's widths add up to 24. */
  readonly lines: readonly (readonly PanelSpec[])[];
  readonly height?: number;
}

const DEFAULT_HEIGHT = 8;
const STAT_HEIGHT = 4;
const GREEN: Thresholds = { base: 'green', steps: [] };

/** Adds the rows to the dashboard, with explicit grid positions and ids. */
export function addRows(builder: dashboard.DashboardBuilder, rows: readonly Row[]): void {
  let id = 1;
  let y = 0;
  for (const row of rows) {
    builder.withRow(new dashboard.RowBuilder(row.title).id(id++).gridPos({ x: 0, y, w: 24, h: 1 }));
    y += 1;
    for (const line of row.lines) {
      let x = 0;
      let lineHeight = 0;
      for (const spec of line) {
        const h = spec.kind === 'stat' ? STAT_HEIGHT : spec.kind === 'table' ? 10 : row.height ?? DEFAULT_HEIGHT;
        builder.withPanel(build(spec).id(id++).gridPos({ x, y, w: spec.width, h }));
        x += spec.width;
        lineHeight = Math.max(lineHeight, h);
      }
      y += lineHeight;
    }
  }
}

type AnyPanelBuilder = timeseries.PanelBuilder | stat.PanelBuilder | table.PanelBuilder;

function build(spec: PanelSpec): AnyPanelBuilder {
  switch (spec.kind) {
    case 'timeseries': return timeSeries(spec);
    case 'stat': return statPanel(spec);
    case 'table': return tablePanel(spec);
  }
}

function withCommon<B extends AnyPanelBuilder>(panel: B, spec: PanelCommon): B {
  panel.title(spec.title).description(spec.description).unit(spec.unit).datasource(DATASOURCE)
    .thresholds(thresholds(spec.thresholds ?? GREEN));
  if (spec.min !== undefined) panel.min(spec.min);
  if (spec.max !== undefined) panel.max(spec.max);
  return panel;
}

function thresholds(spec: Thresholds): dashboard.ThresholdsConfigBuilder {
  return new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps([
    { value: null, color: spec.base },
    ...spec.steps.map((step) => ({ value: step.value, color: step.color })),
  ]);
}

function rangeQuery(query: Query, refId: string): prometheus.DataqueryBuilder {
  const target = new prometheus.DataqueryBuilder().datasource(DATASOURCE).refId(refId).expr(query.expr).range();
  if (query.legend !== undefined) target.legendFormat(query.legend);
  return target;
}

function refIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => String.fromCharCode(65 + i));
}

function timeSeries(spec: TimeSeriesPanel): timeseries.PanelBuilder {
  const panel = withCommon(new timeseries.PanelBuilder(), spec)
    .legend(new common.VizLegendOptionsBuilder()
      .displayMode(common.LegendDisplayMode.List).placement(common.LegendPlacement.Bottom).showLegend(true))
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending))
    .lineWidth(1)
    .fillOpacity(spec.stack ? 30 : 10)
    .showPoints(common.VisibilityMode.Never)
    .spanNulls(false);
  if (spec.stack) panel.stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
  if (spec.thresholdLines) {
    panel.thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Dashed));
  }
  const ids = refIds(spec.queries.length);
  spec.queries.forEach((query, i) => panel.withTarget(rangeQuery(query, ids[i]!)));
  return panel;
}

function statPanel(spec: StatPanel): stat.PanelBuilder {
  const panel = withCommon(new stat.PanelBuilder(), spec)
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false))
    .colorMode(common.BigValueColorMode.Value)
    .graphMode(common.BigValueGraphMode.Area)
    .textMode(common.BigValueTextMode.Auto);
  const ids = refIds(spec.queries.length);
  spec.queries.forEach((query, i) => panel.withTarget(rangeQuery(query, ids[i]!)));
  return panel;
}

function tablePanel(spec: TablePanel): table.PanelBuilder {
  const panel = withCommon(new table.PanelBuilder(), spec)
    .sortBy([new common.TableSortByFieldStateBuilder().displayName(spec.sortBy).desc(false)]);
  const ids = refIds(spec.columns.length);
  const renameByName: Record<string, string> = {};
  const indexByName: Record<string, number> = {};
  spec.rowLabels.forEach((label, i) => (indexByName[label] = i));
  spec.columns.forEach((column, i) => {
    const refId = ids[i]!;
    panel.withTarget(new prometheus.DataqueryBuilder().datasource(DATASOURCE).refId(refId).expr(column.expr)
      .instant().format(prometheus.PromQueryFormat.Table));
    renameByName[`Value #${refId}`] = column.title;
    indexByName[`Value #${refId}`] = spec.rowLabels.length + i;
    const properties: dashboard.DynamicConfigValue[] = [{ id: 'unit', value: column.unit }];
    if (column.min !== undefined) properties.push({ id: 'min', value: column.min });
    if (column.max !== undefined) properties.push({ id: 'max', value: column.max });
    if (column.thresholds !== undefined) {
      properties.push({ id: 'thresholds', value: thresholds(column.thresholds).build() });
      properties.push({ id: 'custom.cellOptions', value: { type: 'color-text' } });
    }
    panel.overrideByName(column.title, properties);
  });
  if (spec.link !== undefined) {
    panel.overrideByName(spec.rowLabels[0]!, [{ id: 'links', value: [{ title: spec.link.title, url: spec.link.url }] }]);
  }
  // One row per origin: the instant results of every column joined on the row labels.
  panel.withTransformation({ id: 'merge', options: {} });
  panel.withTransformation({ id: 'organize', options: { excludeByName: { Time: true }, renameByName, indexByName } });
  return panel;
}
