import type { Dispatcher } from 'undici';
import { instrument, start } from '../../index.js';
import type { PoolscopeAgent } from '../../types.js';
import { durationMs, percent } from '../format.js';
import { figureTable, findingsBlock } from '../render.js';
import { reportOrigin } from '../report/analysis.js';
import { DEFAULT_MIN_REQUESTS, DEFAULT_REUSE_TARGET, type Finding } from '../report/diagnose.js';
import { collectFigures, figuresKey } from '../report/figures.js';
import { readSource, SourceError } from '../report/sources.js';
import { selfSignedCertificate } from './certificate.js';
import { startLatencyProxy } from './latency-proxy.js';
import { startLlmApi } from './llm-api.js';
import { startProgress } from './progress.js';
import { loadAnthropicSdk, SCENARIOS, type AnthropicClient, type Closable, type Scenario } from './scenarios.js';
import { DEFAULTS, ENVIRONMENT } from '../../config.js';
import { EXIT_OK, EXIT_TROUBLE } from '../exit-codes.js';

export interface DemoOptions {
  /** Round trip the proxy adds, in milliseconds. */
  readonly rttMs: number;
  /** Calls per scenario. */
  readonly requests: number;
  readonly json: boolean;
  /** Keep `/metrics` up after the scenarios until interrupted. */
  readonly serve: boolean;
  /** Port of `/metrics`; undefined: OTEL_EXPORTER_PROMETHEUS_PORT, else 9464 with --serve, else a free one. */
  readonly port: number | undefined;
}

/** One scenario's row, as printed and as `--json` gives it. */
export interface ScenarioResult {
  readonly name: string;
  /** The kind of pool its calls went through: `undici` or `http.Agent`. */
  readonly poolType: Scenario['poolType'];
  readonly requests: number;
  readonly reuseRate: number | null;
  readonly connectionsOpened: number;
  readonly ttfbColdP50Ms: number | null;
  readonly ttfbWarmP50Ms: number | null;
  readonly queueP95Ms: number | null;
  readonly savedSeconds: number;
  readonly wallMs: number;
  readonly findings: Finding[];
}

/** poolscope's `instrument()`; undici 7's `compose()` returns the Agent itself behind a Proxy. */
function instrumentAgent<D extends Dispatcher>(agent: D): D {
  return instrument(agent) as D;
}

export const DEFAULT_RTT_MS = 40;
export const DEFAULT_REQUESTS = 60;
const API_TIMING = { timeToFirstTokenMs: 50, tokens: 10, tokenIntervalMs: 5 };
const PROGRESS_INTERVAL_MS = 100;


function metricsPort(options: DemoOptions): number | undefined {
  if (options.port !== undefined) return options.port;
  const fromEnvironment = process.env[ENVIRONMENT.port];
  if (fromEnvironment !== undefined && fromEnvironment.trim() !== '') return undefined;
  return options.serve ? DEFAULTS.port : 0;
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const port = metricsPort(options);
  const agent = await start({ exporters: ['prometheus'], host: '127.0.0.1', ...(port === undefined ? {} : { port }) });
  if (agent.metricsUrl === undefined) {
    await agent.shutdown();
    process.stderr.write('poolscope demo: /metrics could not be served (see the warning above); choose another --port.\n');
    return EXIT_TROUBLE;
  }
  const certificate = selfSignedCertificate();
  const api = await startLlmApi({ certificate, ...API_TIMING });
  const anthropic = await loadAnthropicSdk();
  const results: ScenarioResult[] = [];
  if (!options.json) {
    process.stdout.write(`An LLM-like HTTPS API on 127.0.0.1 behind a proxy that adds ${options.rttMs} ms of round trip; ` +
      `${options.requests} calls per scenario, under poolscope.\n`);
  }
  try {
    for (const scenario of SCENARIOS) {
      const result = await runScenario(scenario, agent, api.port, { ca: certificate.cert, anthropic }, options);
      results.push(result);
    }
  } catch (error) {
    process.stderr.write(`poolscope demo: ${error instanceof SourceError ? error.message : String(error)}\n`);
    await agent.shutdown();
    return EXIT_TROUBLE;
  } finally {
    await api.close();
  }

  if (options.json) {
    process.stdout.write(`${JSON.stringify({ scenarios: results, metricsUrl: agent.metricsUrl }, null, 2)}\n`);
  } else {
    process.stdout.write(`\n${renderResults(results)}\n`);
  }
  if (options.serve) return serve(agent);
  await agent.shutdown();
  return EXIT_OK;
}

async function runScenario(
  scenario: Scenario,
  agent: PoolscopeAgent,
  apiPort: number,
  client: { ca: string; anthropic: AnthropicClient | undefined },
  options: DemoOptions,
): Promise<ScenarioResult> {
  const proxy = await startLatencyProxy(apiPort, options.rttMs);
  const origin = `https://127.0.0.1:${proxy.port}`;
  const live = () => {
    const figures = agent.snapshot().find((entry) => entry.origin === origin && entry.poolType === scenario.poolType);
    return { done, reuseRate: figures?.reuseRatio ?? null, connectionsOpened: figures?.connectionsOpened ?? 0 };
  };
  let done = 0;
  const progress = startProgress(scenario.name, scenario.describe(client.anthropic !== undefined), options.requests);
  const ticker = setInterval(() => progress.update(live()), PROGRESS_INTERVAL_MS);
  const started = performance.now();
  let pools: Closable[] = [];
  try {
    pools = await scenario.run({ origin, ...client, requests: options.requests, instrument: instrumentAgent, done: () => done++ });
    const wallMs = performance.now() - started;
    clearInterval(ticker);
    progress.stop(live(), wallMs);
    // Read while the scenario's pool is still open: its connections are part of the figures.
    const figures = collectFigures([await readSource(agent.metricsUrl!)], { byPoolType: true });
    const originFigures = figures.origins.get(figuresKey(origin, scenario.poolType));
    if (originFigures === undefined) throw new Error(`poolscope saw no ${scenario.poolType} traffic to ${origin}`);
    const requests = originFigures.requestsNew + originFigures.requestsReused;
    const report = reportOrigin(originFigures, figures.present,
      { minRequests: Math.min(DEFAULT_MIN_REQUESTS, options.requests), reuseTarget: DEFAULT_REUSE_TARGET },
      { seconds: wallMs / 1000, requestsPerSecond: requests / (wallMs / 1000), meanQueueSeconds: null });
    return {
      name: scenario.name,
      poolType: scenario.poolType,
      requests: report.requests,
      reuseRate: report.reuseRate,
      connectionsOpened: report.connectionsOpened,
      ttfbColdP50Ms: report.ttfbColdP50Ms,
      ttfbWarmP50Ms: report.ttfbWarmP50Ms,
      queueP95Ms: report.queueP95Ms,
      savedSeconds: report.savedSeconds,
      wallMs: Math.round(wallMs),
      findings: report.findings,
    };
  } finally {
    clearInterval(ticker);
    await Promise.all(pools.map((pool) => pool.close()));
    await proxy.close();
  }
}

function renderResults(results: readonly ScenarioResult[]): string {
  const rows = results.map((result) => [
    result.name,
    result.requests,
    percent(result.reuseRate),
    result.connectionsOpened,
    `${durationMs(result.ttfbColdP50Ms)} / ${durationMs(result.ttfbWarmP50Ms)}`,
    durationMs(result.queueP95Ms),
    durationMs(result.savedSeconds * 1000),
    durationMs(result.wallMs),
  ]);
  const table = figureTable(
    ['scenario', 'requests', 'reuse', 'connections opened', 'TTFB cold / warm p50', 'queue p95', 'time saved', 'wall time'], rows);
  const diagnoses = results.map((result) => findingsBlock(`${result.name}: what poolscope report says`, result.findings));
  return [table, '', ...diagnoses.flatMap((block) => [block, ''])].join('\n').trimEnd();
}

function serve(agent: PoolscopeAgent): Promise<number> {
  process.stderr.write(`Serving ${agent.metricsUrl} until interrupted (Ctrl-C). Try: poolscope report ${agent.metricsUrl}\n`);
  // The agent's server never holds a process open by itself; this does, until a signal.
  const keepAlive = setInterval(() => {}, 1 << 30);
  return new Promise((resolve) => {
    const stop = (): void => {
      clearInterval(keepAlive);
      void agent.shutdown().then(() => resolve(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
