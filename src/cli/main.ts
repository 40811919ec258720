#!/usr/bin/env node
/**
 * The `poolscope` command: `poolscope demo` and `poolscope report`. Nothing here is loaded by
 * the agent or its preload; each command loads its own modules when it runs.
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EXIT_OK, EXIT_TROUBLE } from './exit-codes.js';

const HELP = `poolscope: see whether your Node.js HTTP connection pools work.

Usage:
  poolscope demo [options]              run the whole story on this machine, no network needed
  poolscope report [URL|FILE ...] [options]
                                        diagnose the pools of a service from its /metrics
  poolscope report --prometheus URL [options]
                                        the same over a window of a Prometheus, for a fleet

demo options:
  --rtt MS             round trip the proxy adds to every connection (default 40)
  --requests N         calls per scenario, at least 20 (default 60); fewer runs faster
  --json               print the results as one JSON document, nothing else on stdout
  --serve              keep /metrics up after the scenarios until interrupted
                       (port 9464 unless --port or OTEL_EXPORTER_PROMETHEUS_PORT says otherwise)
  --port N             port of the demo's /metrics (default: a free one)

report options:
  URL|FILE             Prometheus endpoints or saved expositions; several instances add up
                       (default http://127.0.0.1:9464/metrics)
  --json               print the report as one JSON document
  --fail-under RATIO   exit 1 when an origin with enough traffic reuses less (e.g. 0.85)
  --min-requests N     requests an origin needs to be judged (default 20)
  --interval S         seconds between the two reads of live endpoints that measure
                       throughput for the pool size (default 5; 0 reads once)
  --header 'NAME: VALUE'
                       sent with every request (repeatable), e.g. 'Authorization: Bearer TOKEN';
                       never printed

report --prometheus options (Prometheus, Thanos, Mimir, VictoriaMetrics):
  --prometheus URL     where its HTTP API is served, e.g. http://prometheus:9090
  --selector MATCHER   the series to read, e.g. '{job="api",namespace="prod"}'
                       (default every poolscope series)
  --range DURATION     the window, e.g. 15m, 6h (default 1h)
  --at TIME            the window's end, RFC 3339 or unix seconds (default now)

Exit codes: 0 done; 1 an origin reuses below --fail-under; 2 a source could not be read
or the command line is wrong.
`;


class UsageError extends Error {}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  json: { type: 'boolean' },
  rtt: { type: 'string' },
  requests: { type: 'string' },
  serve: { type: 'boolean' },
  port: { type: 'string' },
  'fail-under': { type: 'string' },
  'min-requests': { type: 'string' },
  interval: { type: 'string' },
  header: { type: 'string', multiple: true },
  prometheus: { type: 'string' },
  selector: { type: 'string' },
  range: { type: 'string' },
  at: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

const ONLY = {
  demo: ['rtt', 'requests', 'serve', 'port'],
  report: ['fail-under', 'min-requests', 'interval', 'header', 'prometheus', 'selector', 'range', 'at'],
} as const;
/** Report options that only mean something with --prometheus. */
const WINDOW_ONLY = ['selector', 'range', 'at'] as const;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** `--header 'Name: value'` as headers; a malformed one is refused without being echoed, as it may hold a token. */
function headers(given: readonly string[] | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [index, text] of (given ?? []).entries()) {
    const colon = text.indexOf(':');
    const name = colon < 0 ? '' : text.slice(0, colon).trim();
    const value = colon < 0 ? '' : text.slice(colon + 1).trim();
    if (!HEADER_NAME.test(name) || value === '' || /[\r\n\0]/.test(value)) {
      throw new UsageError(`--header number ${index + 1} is not 'Name: value' on one line (it is not shown here: it may hold a credential)`);
    }
    result[name] = value;
  }
  return result;
}

function number(name: string, text: string | undefined, fallback: number, min: number, max: number, integer = false): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new UsageError(`--${name} takes ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, not ${JSON.stringify(text)}`);
  }
  return value;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  const [command, ...rest] = positionals;
  if (values.version) {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`${version}\n`);
    return EXIT_OK;
  }
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined && !values.help ? EXIT_TROUBLE : EXIT_OK;
  }
  if (command !== 'demo' && command !== 'report') throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  const other = command === 'demo' ? ONLY.report : ONLY.demo;
  for (const name of other) if (values[name] !== undefined) throw new UsageError(`--${name} is a ${command === 'demo' ? 'report' : 'demo'} option`);

  if (command === 'demo') {
    if (rest.length > 0) throw new UsageError(`demo takes no arguments, not ${JSON.stringify(rest[0])}`);
    const { runDemo, DEFAULT_RTT_MS, DEFAULT_REQUESTS } = await import('./demo/command.js');
    return runDemo({
      rttMs: number('rtt', values.rtt, DEFAULT_RTT_MS, 0, 2_000),
      requests: number('requests', values.requests, DEFAULT_REQUESTS, 20, 10_000, true),
      json: values.json ?? false,
      serve: values.serve ?? false,
      port: values.port === undefined ? undefined : number('port', values.port, 0, 0, 65_535, true),
    });
  }
  const { runReport } = await import('./report/command.js');
  const { DEFAULT_SOURCE } = await import('./report/sources.js');
  const { DEFAULT_MIN_REQUESTS, DEFAULT_REUSE_TARGET } = await import('./report/diagnose.js');
  const failUnder = values['fail-under'] === undefined ? undefined : number('fail-under', values['fail-under'], 0, 0, 1);
  const window = values.prometheus === undefined ? undefined : await windowOf(values, rest);
  if (window === undefined) {
    for (const name of WINDOW_ONLY) if (values[name] !== undefined) throw new UsageError(`--${name} goes with --prometheus`);
  }
  return runReport({
    window,
    headers: headers(values.header),
    sources: window !== undefined ? [] : rest.length > 0 ? rest : [DEFAULT_SOURCE],
    json: values.json ?? false,
    failUnder,
    minRequests: number('min-requests', values['min-requests'], DEFAULT_MIN_REQUESTS, 1, 1e9, true),
    reuseTarget: failUnder ?? DEFAULT_REUSE_TARGET,
    intervalSeconds: number('interval', values.interval, 5, 0, 3_600),
  });
}

/** The window `--prometheus`, `--selector`, `--range` and `--at` name. */
async function windowOf(values: { prometheus?: string; selector?: string; range?: string; at?: string; interval?: string }, rest: string[]) {
  const { DEFAULT_RANGE, matchersOf, parseAt, parseRange } = await import('./report/prometheus-window.js');
  // Not echoed: a stray argument may be a header value whose --header was forgotten.
  if (rest.length > 0) throw new UsageError(`--prometheus reads no /metrics or file: ${rest.length} other argument(s) given`);
  if (values.interval !== undefined) throw new UsageError('--interval reads /metrics twice; with --prometheus, --range is the window');
  const text = values.prometheus!;
  if (!URL.canParse(text) || !/^https?:$/.test(new URL(text).protocol)) {
    throw new UsageError(`--prometheus takes the http:// or https:// address of the Prometheus API, such as http://prometheus:9090`);
  }
  const selector = (values.selector ?? '').trim();
  if (matchersOf(selector) === undefined) throw new UsageError(`--selector takes label matchers in braces, such as {job="api"}, not ${JSON.stringify(selector)}`);
  const range = values.range ?? DEFAULT_RANGE;
  const rangeSeconds = parseRange(range);
  if (rangeSeconds === undefined || rangeSeconds < 1) throw new UsageError(`--range takes a duration of at least 1s such as 15m or 6h, not ${JSON.stringify(range)}`);
  const at = values.at === undefined ? Date.now() / 1000 : parseAt(values.at);
  if (at === undefined) throw new UsageError(`--at takes an RFC 3339 time (2026-05-04T10:00:00Z) or unix seconds, not ${JSON.stringify(values.at)}`);
  return { url: new URL(text), selector, range: range.trim(), rangeSeconds, at };
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const usage = error instanceof UsageError || (error as { code?: unknown }).code?.toString().startsWith('ERR_PARSE_ARGS');
  if (!usage) throw error;
  process.stderr.write(`poolscope: ${(error as Error).message}\n\nRun \`poolscope --help\` for usage.\n`);
  process.exitCode = EXIT_TROUBLE;
}
