import { setTimeout as sleep } from 'node:timers/promises';
import { durationMs, percent } from '../format.js';
import { figureTable, findingsBlock, style } from '../render.js';
import { analyse, throughputsBetween, type Analysis } from './analysis.js';
import type { DiagnosisOptions } from './diagnose.js';
import type { Sample } from './exposition.js';
import { collectFigures } from './figures.js';
import { isUrl, readSource, SourceError } from './sources.js';
import { EXIT_BELOW_THRESHOLD, EXIT_OK, EXIT_TROUBLE } from '../exit-codes.js';

export interface ReportOptions extends DiagnosisOptions {
  readonly sources: readonly string[];
  readonly json: boolean;
  /** Exit 1 when an origin with enough traffic reuses less than this. */
  readonly failUnder: number | undefined;
  /** Seconds between the two readings of live endpoints that measure throughput; 0 reads once. */
  readonly intervalSeconds: number;
}

/** The report as `--json` prints it. */
export interface ReportDocument extends Analysis {
  readonly sources: readonly string[];
  /** Seconds over which throughput was measured; null when the sources were read once. */
  readonly throughputSeconds: number | null;
  readonly failUnder: number | null;
  /** Origins with enough traffic whose reuse is below `failUnder`. */
  readonly failing: string[];
}


/** Reads the sources, prints the report, and returns the exit code. */
export async function runReport(options: ReportOptions): Promise<number> {
  let document: ReportDocument;
  try {
    document = await buildReport(options);
  } catch (error) {
    if (!(error instanceof SourceError)) throw error;
    process.stderr.write(`poolscope report: ${error.message}\n`);
    return EXIT_TROUBLE;
  }
  if (options.json) process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
  else process.stdout.write(`${renderReport(document)}\n`);
  return document.failing.length > 0 ? EXIT_BELOW_THRESHOLD : EXIT_OK;
}

async function readAll(sources: readonly string[]): Promise<Sample[][]> {
  return Promise.all(sources.map(readSource));
}

export async function buildReport(options: ReportOptions): Promise<ReportDocument> {
  const first = await readAll(options.sources);
  const figures = collectFigures(first);
  if (figures.present.size === 0) {
    throw new SourceError(`no poolscope series in ${options.sources.join(', ')}: is that the /metrics of an app started with poolscope?`);
  }
  // Throughput needs two readings of the same live counters; saved files are one reading each.
  const live = options.intervalSeconds > 0 && options.sources.every(isUrl);
  let latest = figures;
  let throughputs;
  if (live) {
    if (!options.json && process.stderr.isTTY) process.stderr.write(`Measuring throughput for ${options.intervalSeconds} s...\n`);
    const started = performance.now();
    await sleep(options.intervalSeconds * 1000);
    const second = await readAll(options.sources);
    latest = collectFigures(second);
    throughputs = throughputsBetween(figures, latest, (performance.now() - started) / 1000);
  }
  const analysis = analyse(latest, options, throughputs);
  const failing = options.failUnder === undefined ? [] : analysis.origins
    .filter((origin) => origin.enoughTraffic && (origin.reuseRate ?? 0) < options.failUnder!)
    .map((origin) => origin.origin);
  return {
    sources: options.sources,
    throughputSeconds: throughputs === undefined ? null : options.intervalSeconds,
    failUnder: options.failUnder ?? null,
    failing,
    ...analysis,
  };
}

export function renderReport(document: ReportDocument): string {
  const rows = document.origins.map((origin) => [
    origin.origin,
    origin.requests,
    percent(origin.reuseRate),
    durationMs(origin.setupP50Ms),
    `${durationMs(origin.ttfbColdP50Ms)} / ${durationMs(origin.ttfbWarmP50Ms)}`,
    durationMs(origin.queueP95Ms),
    origin.peakActive,
    durationMs(origin.savedSeconds * 1000),
  ]);
  const out = [
    figureTable(['origin', 'requests', 'reuse', 'setup p50', 'TTFB cold / warm p50', 'queue p95', 'peak active', 'saved'], rows),
    style('dim', `Figures since each agent started, added up over ${document.sources.length} source(s)` +
      (document.throughputSeconds === null ? '.' : `; throughput over ${document.throughputSeconds} s.`)),
    '',
  ];
  if (document.origins.length === 0) out.push('No origin has been called yet.');
  for (const origin of document.origins) out.push(findingsBlock(origin.origin, origin.findings), '');
  for (const rule of document.notChecked) out.push(style('dim', `Not checked: ${rule}.`));
  if (document.failUnder !== null) {
    out.push(document.failing.length === 0
      ? `Every origin with enough traffic reuses at least ${percent(document.failUnder)} of its connections.`
      : style('red', `Below ${percent(document.failUnder)} reuse: ${document.failing.join(', ')}.`));
  }
  return out.join('\n').trimEnd();
}
