import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { closedPort } from './servers.ts';

/** A program on PATH, or undefined. */
export function onPath(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

/**
 * `skip` option for tests that need Debian's `prometheus` package. Locally they skip with the
 * reason; under CI they run and fail, since `.ci/run` installs it.
 */
export function needs(program: 'prometheus' | 'promtool'): string | false {
  if (onPath(program) !== undefined || process.env.CI === 'true') return false;
  return `${program} is not installed (apt-get install prometheus)`;
}

/** The program's path; fails the test with the reason when it is missing. */
export function requireProgram(program: 'prometheus' | 'promtool'): string {
  const path = onPath(program);
  assert.ok(path, `${program} is not on PATH: .ci/run installs Debian's prometheus package, locally apt-get install prometheus`);
  return path;
}

export interface Run { code: number | null; stdout: string; stderr: string }

/** Runs a program to completion, killed after `timeoutMs`. */
export function run(program: string, args: readonly string[], options: { cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeoutMs ?? 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface PrometheusServer {
  readonly url: string;
  /** Runs an instant query; fails on an error response. */
  query(expr: string): Promise<PromResult>;
  /** Runs a range query over the last `seconds`, one step per second. */
  queryRange(expr: string, seconds: number): Promise<PromResult>;
  /** GET on the HTTP API, `data` of a successful answer. */
  api<T>(path: string): Promise<T>;
  stop(): Promise<void>;
  log(): string;
}

export type PromSample = [number, string];
export interface PromSeries { metric: Record<string, string>; value?: PromSample; values?: PromSample[] }
export interface PromResult { resultType: string; result: PromSeries[] }

/**
 * Debian's Prometheus on 127.0.0.1 at a free port, scraping `target` every second with the
 * rules loaded, its data in a temporary directory removed at stop.
 */
export async function startPrometheus(options: { target: string; job: string; ruleFiles: readonly string[]; readyTimeoutMs?: number }): Promise<PrometheusServer> {
  const binary = requireProgram('prometheus');
  const dir = mkdtempSync(join(tmpdir(), 'poolscope-prometheus-'));
  const config = join(dir, 'prometheus.yml');
  writeFileSync(config, [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    '  evaluation_interval: 1s',
    'rule_files:',
    ...options.ruleFiles.map((file) => `  - ${JSON.stringify(file)}`),
    'scrape_configs:',
    `  - job_name: ${JSON.stringify(options.job)}`,
    '    static_configs:',
    `      - targets: [${JSON.stringify(options.target)}]`,
    '',
  ].join('\n'));
  const port = await closedPort();
  const child: ChildProcess = spawn(binary, [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killed = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killed);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000);
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited (${child.exitCode}) before it was ready: ${log}`);
    }
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus was not ready within the time allowed: ${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  async function api<T>(path: string): Promise<T> {
    const response = await fetch(`${url}${path}`);
    const body = await response.json() as { status: string; data: T; error?: string };
    assert.equal(body.status, 'success', `${path}: ${body.error}`);
    return body.data;
  }
  return {
    url,
    api,
    query: (expr) => api<PromResult>(`/api/v1/query?query=${encodeURIComponent(expr)}`),
    queryRange(expr, seconds) {
      const end = Date.now() / 1000;
      return api<PromResult>(`/api/v1/query_range?query=${encodeURIComponent(expr)}&start=${end - seconds}&end=${end}&step=1`);
    },
    stop,
    log: () => log,
  };
}
