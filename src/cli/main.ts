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
} as const satisfies ParseArgsConfig['options'];

const ONLY = {
  demo: ['rtt', 'requests', 'serve', 'port'],
  report: ['fail-under', 'min-requests', 'interval'],
} as const;

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
  return runReport({
    sources: rest.length > 0 ? rest : [DEFAULT_SOURCE],
    json: values.json ?? false,
    failUnder,
    minRequests: number('min-requests', values['min-requests'], DEFAULT_MIN_REQUESTS, 1, 1e9, true),
    reuseTarget: failUnder ?? DEFAULT_REUSE_TARGET,
    intervalSeconds: number('interval', values.interval, 5, 0, 3_600),
  });
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  const usage = error instanceof UsageError || (error as { code?: unknown }).code?.toString().startsWith('ERR_PARSE_ARGS');
  if (!usage) throw error;
  process.stderr.write(`poolscope: ${(error as Error).message}\n\nRun \`poolscope --help\` for usage.\n`);
  process.exitCode = EXIT_TROUBLE;
}
