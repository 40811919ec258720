import { METRICS, type MetricSpec } from 'poolscope';

/** The README's row for a metric, made from the catalog so the two cannot drift apart. */
export function readmeRow(spec: MetricSpec): string {
  const extra = spec.extraAttributes.length === 0 ? '' : spec.extraAttributes.map((a) => `\`${a}\``).join(', ');
  return `| \`${spec.name}\` | ${spec.instrument} | \`${spec.unit}\` | ${extra} | ${spec.description} |`;
}

export function readmeRows(): string[] {
  return Object.values(METRICS).map(readmeRow);
}

/** Rows of the markdown tables in a document whose first cell is a backticked metric name. */
export function metricRows(markdown: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of markdown.split('\n')) {
    const match = /^\|\s*`((?:poolscope|http)\.client\.[a-z_.]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (match) rows.set(match[1]!, match[2]!.split('|').map((cell) => cell.trim()));
  }
  return rows;
}
