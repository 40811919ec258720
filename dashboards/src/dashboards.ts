/**
 * poolscope's two Grafana dashboards: the overview of every origin, and one origin across
 * instances for whoever followed an alert. Importable into Grafana 10 and later: the data
 * source is a variable, never a fixed uid.
 */
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as lib from './library.ts';
import { addRows, DATASOURCE, type Row } from './panels.ts';
import { metric } from './promql.ts';

export const OVERVIEW_UID = 'poolscope-overview';
export const ORIGIN_DETAIL_UID = 'poolscope-origin-detail';
/** Grafana 10.0's dashboard schema: later versions migrate it on load. */
const SCHEMA_VERSION = 38;
const TAGS = ['poolscope', 'undici', 'http-client'];

const ALL = { text: 'All', value: '$__all' };

/** `datasource`, then `job`, `instance`, `origin` and `pool_type`, each narrowing the next; multi-select, All is `.+`. */
function withVariables(builder: dashboard.DashboardBuilder): void {
  builder.withVariable(new dashboard.DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'));
  const variables: Array<[name: string, label: string, query: string]> = [
    ['job', 'Job', `label_values(${metric.requests}, job)`],
    ['instance', 'Instance', `label_values(${metric.requests}{job=~"$job"}, instance)`],
    ['origin', 'Origin', `label_values(${metric.requests}{job=~"$job", instance=~"$instance"}, server_address)`],
    ['pool_type', 'Pool type', `label_values(${metric.requests}{job=~"$job", instance=~"$instance", server_address=~"$origin"}, poolscope_pool_type)`],
  ];
  for (const [name, label, query] of variables) {
    builder.withVariable(new dashboard.QueryVariableBuilder(name).label(label).datasource(DATASOURCE)
      .query(query).definition(query)
      .multi(true).includeAll(true).allValue('.+').current(ALL)
      .refresh(dashboard.VariableRefresh.OnTimeRangeChanged).sort(dashboard.VariableSort.AlphabeticalAsc));
  }
}

function base(uid: string, title: string, description: string): dashboard.DashboardBuilder {
  const builder = new dashboard.DashboardBuilder(title).uid(uid).description(description).tags(TAGS)
    .editable().timezone('browser').refresh('30s').time({ from: 'now-1h', to: 'now' })
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .link(new dashboard.DashboardLinkBuilder('poolscope').type(dashboard.DashboardLinkType.Dashboards)
      .tags(['poolscope']).asDropdown(false).includeVars(true).keepTime(true));
  withVariables(builder);
  return builder;
}

function finish(builder: dashboard.DashboardBuilder, rows: readonly Row[]): object {
  addRows(builder, rows);
  const built = builder.build();
  // The SDK puts links in Grafana 12's controls menu; without `placement` every version shows them in the header.
  const links = built.links?.map(({ placement: _, ...link }) => link);
  return { ...built, links, schemaVersion: SCHEMA_VERSION };
}

export function overview(): object {
  const o = lib.BY_ORIGIN;
  const detailUrl = `/d/${ORIGIN_DETAIL_UID}/poolscope-origin-detail?\${__url_time_range}&\${datasource:queryparam}` +
    '&${job:queryparam}&${instance:queryparam}&var-origin=${__data.fields.server_address}' +
    '&var-pool_type=${__data.fields.poolscope_pool_type}';
  return finish(base(OVERVIEW_UID, 'poolscope / Connection pools',
    'Whether the HTTP connection pools of Node.js services reuse their connections, per origin: reuse, setup cost, queueing, churn and errors.'), [
    { title: 'Now', lines: [[lib.statReuse(), lib.statRequests(), lib.statNewConnections(), lib.statSaved(), lib.statQueue(), lib.statConnectErrors()]] },
    { title: 'Worst origins', lines: [[lib.worstOrigins(detailUrl)]] },
    { title: 'Reuse', lines: [
      [lib.reuseRate(o), lib.requestsNewVsReused()],
      [lib.timeSaved(o), lib.newConnections(o)],
    ] },
    { title: 'Connections', lines: [
      [lib.openConnections(), lib.setupTime(o), lib.setupPhases()],
      [lib.requestsPerConnection(o), lib.connectionLifetime(o), lib.streamsPerConnection(o)],
    ] },
    { title: 'Latency and pool pressure', lines: [[lib.timeToFirstByte(), lib.timeInQueue(o), lib.activeRequests(o)]] },
    { title: 'Keep-alive, pools and errors', lines: [
      [lib.idleTime(o), lib.reopenedAfter(o), lib.keepAliveChurn(o)],
      [lib.connectErrors(o), { ...lib.poolsCreated(o), width: 8 }, { ...lib.pools(o), width: 8 }],
    ] },
  ]);
}

export function originDetail(): object {
  const i = lib.BY_INSTANCE;
  return finish(base(ORIGIN_DETAIL_UID, 'poolscope / Origin detail',
    'One origin across the instances that call it: pick the origin an alert named. Every panel splits by instance.'), [
    { title: 'Now', lines: [[lib.statReuse(), lib.statRequests(), lib.statNewConnections(), lib.statSetup(), lib.statQueue(), lib.statConnectErrors()]] },
    { title: 'Reuse', lines: [
      [lib.reuseRate(i), lib.requestsNewVsReused()],
      [lib.timeSaved(i), lib.newConnections(i)],
    ] },
    { title: 'Connections', lines: [
      [lib.openConnections(i), lib.setupTime(i), lib.setupPhases()],
      [lib.connectErrors(i), lib.closedConnections(i), lib.streamsPerConnection(i)],
    ] },
    { title: 'Latency and pool pressure', lines: [[lib.timeToFirstByte(), lib.timeInQueue(i, true), lib.activeRequests(i)]] },
    { title: 'Keep-alive and pools', lines: [
      [lib.idleTime(i), lib.reopenedAfter(i), lib.keepAliveChurn(i)],
      [{ ...lib.connectionLifetime(i), width: 12 }, { ...lib.requestsPerConnection(i), width: 12 }],
      [lib.poolsCreated(i), lib.pools(i)],
    ] },
  ]);
}
