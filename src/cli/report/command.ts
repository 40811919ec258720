import { setTimeout as sleep } from 'node:timers/promises';
import { durationMs, percent } from '../format.js';
import { figureTable, findingsBlock, style } from '../render.js';
import { analyse, throughputsBetween, type Analysis } from './analysis.js';
import type { DiagnosisOptions } from './diagnose.js';
import type { Sample } from './exposition.js';
import { collectFigures, figuresKey } from './figures.js';
import { shownUrl } from './prometheus-api.js';
import { readWindow, type WindowOptions } from './prometheus-window.js';
import { redactor } from './redact.js';
import { isUrl, readSource, SourceError } from './sources.js';
import { EXIT_BELOW_THRESHOLD, EXIT_OK, EXIT_TROUBLE } from '../exit-codes.js';

export interface ReportOptions extends DiagnosisOptions {
  readonly sources: readonly string[];
  readonly json: boolean;
  /** Exit 1 when an origin with enough traffic reuses less than this. */
  readonly failUnder: number | undefined;
  /** Seconds between the two readings of live endpoints that measure throughput; 0 reads once. */
  readonly intervalSeconds: number;
  /** A window of a Prometheus to read instead of the sources (`--prometheus`). */
  readonly window?: WindowOptions | undefined;
  /** Sent with every HTTP request the report makes (`--header`); never printed. */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** The window a `--prometheus` report covers, as `--json` gives it. */
export interface WindowDocument {
  readonly prometheus: string;
  readonly selector: string;
  readonly range: string;
  readonly rangeSeconds: number;
  /** The window's end, RFC 3339. */
  readonly at: string;
}

/** The report as `--json` prints it. */
export interface ReportDocument extends Analysis {
  readonly sources: readonly string[];
  /** Seconds over which throughput was measured; null when the sources were read once. */
  readonly throughputSeconds: number | null;
  /** The Prometheus window the figures cover; null when they were read from /metrics or files. */
  readonly window: WindowDocument | null;
  readonly failUnder: number | null;
  /** Origins with enough traffic whose reuse is below `failUnder`, as the report heads them: `origin (pool type)`. */
  readonly failing: string[];
}


/** Reads the sources, prints the report, and returns the exit code. */
export async function runReport(options: ReportOptions): Promise<number> {
  // A server may echo what it was sent: no header value the report sends is ever printed.
  const redact = redactor(options.headers ?? {});
  let document: ReportDocument;
  try {
    document = await buildReport(options, (warning) => process.stderr.write(`poolscope report: ${redact(warning)}\n`));
  } catch (error) {
    if (!(error instanceof SourceError)) {
      if (error instanceof Error) {
        error.message = redact(error.message);
        if (error.stack !== undefined) error.stack = redact(error.stack);
      }
      throw error;
    }
    process.stderr.write(`poolscope report: ${redact(error.message)}\n`);
    return EXIT_TROUBLE;
  }
  if (options.json) process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
  else process.stdout.write(`${renderReport(document)}\n`);
  return document.failing.length > 0 ? EXIT_BELOW_THRESHOLD : EXIT_OK;
}

async function readAll(sources: readonly string[], headers: Readonly<Record<string, string>>): Promise<Sample[][]> {
  return Promise.all(sources.map((source) => readSource(source, headers)));
}

function failingOf(analysis: Analysis, failUnder: number | undefined): string[] {
  if (failUnder === undefined) return [];
  return analysis.origins
    .filter((origin) => origin.enoughTraffic && (origin.reuseRate ?? 0) < failUnder)
    .map((origin) => figuresKey(origin.origin, origin.poolType));
}

/** The report over a window of a Prometheus: per origin and pool type, throughput over the window. */
async function buildWindowReport(options: ReportOptions, window: WindowOptions, warn: (text: string) => void): Promise<ReportDocument> {
  const prometheus = shownUrl(window.url);
  const { figures, throughputs, warnings } = await readWindow(window, options.headers ?? {});
  for (const warning of warnings) warn(`${prometheus} warns: ${warning}`);
  const analysis = analyse(figures, options, throughputs);
  return {
    sources: [prometheus],
    throughputSeconds: window.rangeSeconds,
    window: {
      prometheus,
      selector: window.selector,
      range: window.range,
      rangeSeconds: window.rangeSeconds,
      at: new Date(window.at * 1000).toISOString(),
    },
    failUnder: options.failUnder ?? null,
    failing: failingOf(analysis, options.failUnder),
    ...analysis,
  };
}

export async function buildReport(options: ReportOptions, warn: (text: string) => void = () => {}): Promise<ReportDocument> {
  if (options.window !== undefined) return buildWindowReport(options, options.window, warn);
  const headers = options.headers ?? {};
  const first = await readAll(options.sources, headers);
  // An origin called through undici and through an http.Agent gets a line per pool, as each has its own settings.
  const figures = collectFigures(first, { byPoolType: true });
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
    const second = await readAll(options.sources, headers);
    latest = collectFigures(second, { byPoolType: true });
    throughputs = throughputsBetween(figures, latest, (performance.now() - started) / 1000);
  }
  const analysis = analyse(latest, options, throughputs);
  return {
    sources: options.sources,
    throughputSeconds: throughputs === undefined ? null : options.intervalSeconds,
    window: null,
    failUnder: options.failUnder ?? null,
    failing: failingOf(analysis, options.failUnder),
    ...analysis,
  };
}

/** A count as Prometheus' increase() may give it, extrapolated to the window's edges: a fraction shows one decimal. */
function count(value: number): string {
  const tenths = Math.round(value * 10) / 10;
  return Number.isInteger(tenths) ? String(tenths) : tenths.toFixed(1);
}

function footer(document: ReportDocument): string {
  const { window } = document;
  if (window === null) {
    return `Figures since each agent started, added up over ${document.sources.length} source(s)` +
      (document.throughputSeconds === null ? '.' : `; throughput over ${document.throughputSeconds} s.`);
  }
  return `Figures over the ${window.range} to ${window.at} from ${window.prometheus}` +
    `${window.selector === '' ? '' : ` for ${window.selector}`}: counts are Prometheus' increase() over the window, ` +
    'throughput and mean time in queue its average, connections, pools and peak active the most held at once.';
}

export function renderReport(document: ReportDocument): string {
  const rows = document.origins.map((origin) => [
    figuresKey(origin.origin, origin.poolType),
    count(origin.requests),
    percent(origin.reuseRate),
    durationMs(origin.setupP50Ms),
    `${durationMs(origin.ttfbColdP50Ms)} / ${durationMs(origin.ttfbWarmP50Ms)}`,
    durationMs(origin.queueP95Ms),
    origin.peakActive,
    durationMs(origin.savedSeconds * 1000),
  ]);
  const out = [
    figureTable(['origin', 'requests', 'reuse', 'setup p50', 'TTFB cold / warm p50', 'queue p95', 'peak active', 'saved'], rows),
    style('dim', footer(document)),
    '',
  ];
  if (document.origins.length === 0) out.push('No origin has been called yet.');
  for (const origin of document.origins) out.push(findingsBlock(figuresKey(origin.origin, origin.poolType), origin.findings), '');
  for (const rule of document.notChecked) out.push(style('dim', `Not checked: ${rule}.`));
  if (document.failUnder !== null) {
    out.push(document.failing.length === 0
      ? `Every origin with enough traffic reuses at least ${percent(document.failUnder)} of its connections.`
      : style('red', `Below ${percent(document.failUnder)} reuse: ${document.failing.join(', ')}.`));
  }
  return out.join('\n').trimEnd();
}
