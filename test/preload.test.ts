import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NO_APP_SDK } from './helpers/processes.ts';
import { closedPort, startServer, type TestServer } from './helpers/servers.ts';

const app = fileURLToPath(new URL('./fixtures/app.mjs', import.meta.url));
const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

interface Run { child: ChildProcess; stdout: () => string; stderr: () => string; ready: Promise<void> }

function runApp(server: TestServer, env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['--import', 'poolscope/register', app], {
    cwd: projectRoot,
    env: { ...process.env, ...NO_APP_SDK, TARGET_URL: `${server.origin}`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk;
      if (stdout.includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`app exited (${code}) before ready: ${stderr}`)));
  });
  ready.catch(() => {});
  return { child, stdout: () => stdout, stderr: () => stderr, ready };
}

/** Sample lines of a Prometheus exposition, keyed by name and labels. */
function samples(exposition: string): Map<string, number> {
  const result = new Map<string, number>();
  for (const line of exposition.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    result.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return result;
}

function sampleValue(all: Map<string, number>, name: string, labels: Record<string, string>): number | undefined {
  for (const [key, value] of all) {
    if (!key.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([label, expected]) => key.includes(`${label}="${expected}"`))) return value;
  }
  return undefined;
}

describe('node --import poolscope/register', () => {
  it('serves /metrics whose figures equal what the server saw, with no secret in it', async () => {
    const server = await startServer();
    const port = await closedPort();
    const run = runApp(server, { OTEL_EXPORTER_PROMETHEUS_PORT: String(port), REQUESTS: '7', STAY: '1' });
    await run.ready;
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(response.status, 200);
    const text = await response.text();
    const all = samples(text);
    const origin = { server_address: '127.0.0.1', server_port: String(server.port), url_scheme: 'http' };
    const reused = sampleValue(all, 'poolscope_client_requests_total', { ...origin, poolscope_connection_reused: 'true' });
    const fresh = sampleValue(all, 'poolscope_client_requests_total', { ...origin, poolscope_connection_reused: 'false' });
    assert.equal(fresh, server.truth.connectionsWithRequests);
    assert.equal((fresh ?? 0) + (reused ?? 0), server.truth.requests);
    assert.equal(server.truth.requests, 7);
    assert.equal(sampleValue(all, 'poolscope_client_connections_opened_total', origin), server.truth.connections);
    assert.equal(sampleValue(all, 'http_client_active_requests', origin), 0);
    assert.equal(sampleValue(all, 'http_client_open_connections', { ...origin, http_connection_state: 'idle' }), server.truth.open);
    assert.ok((sampleValue(all, 'poolscope_client_connection_saved_time_total', origin) ?? 0) > 0);
    assert.match(text, /^target_info\{[^}]*service_name="poolscope"/m, 'service.name is the app\'s package name');
    for (const secret of ['hunter2', 'api_key', 'sk-secret', '/app/', 'Bearer']) assert.ok(!text.includes(secret), `no ${secret} in /metrics`);
    run.child.kill('SIGTERM');
    const [code, signal] = await once(run.child, 'exit');
    assert.equal(code, null);
    assert.equal(signal, 'SIGTERM', 'with no handler of its own the app still dies by SIGTERM');
    assert.equal(run.stderr(), '');
  });

  it('warns once and runs on when the port is taken', async () => {
    const server = await startServer();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const run = runApp(server, { OTEL_EXPORTER_PROMETHEUS_PORT: String(port), REQUESTS: '3' });
      const [code] = await once(run.child, 'exit');
      assert.equal(code, 0);
      assert.match(run.stdout(), /ready/);
      assert.equal(server.truth.requests, 3);
      const warnings = run.stderr().match(/PoolscopeWarning/g) ?? [];
      assert.equal(warnings.length, 1, run.stderr());
      assert.match(run.stderr(), /cannot serve \/metrics .*EADDRINUSE/);
    } finally {
      blocker.close();
    }
  });

  it('warns once per invalid variable, naming it and what it accepts, and uses the default', async () => {
    const server = await startServer();
    const run = runApp(server, {
      POOLSCOPE_MAX_ORIGINS: 'lots',
      OTEL_METRICS_EXPORTER: 'carrier-pigeon',
      POOLSCOPE_CHURN_WINDOW_MILLIS: '-5',
      POOLSCOPE_INSTRUMENT_GLOBAL_DISPATCHER: 'sometimes',
      REQUESTS: '4',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(await closedPort()),
    });
    const [code] = await once(run.child, 'exit');
    assert.equal(code, 0);
    assert.equal(server.truth.requests, 4);
    const stderr = run.stderr();
    assert.equal((stderr.match(/PoolscopeWarning/g) ?? []).length, 4, stderr);
    assert.match(stderr, /POOLSCOPE_MAX_ORIGINS="lots" is not valid; it accepts a whole number from 1 to 100000\. Using 100\./);
    assert.match(stderr, /OTEL_METRICS_EXPORTER="carrier-pigeon" is not valid; it accepts a comma list of prometheus, otlp, console, none/);
    assert.match(stderr, /POOLSCOPE_CHURN_WINDOW_MILLIS="-5" is not valid; it accepts a whole number from 0 to 86400000\. Using 60000\./);
    assert.match(stderr, /POOLSCOPE_INSTRUMENT_GLOBAL_DISPATCHER="sometimes" is not valid; it accepts true or false\. Using true\./);
  });

  it('leaves the app its own SIGTERM handler and exit code', async () => {
    const server = await startServer();
    const run = runApp(server, { ON_SIGTERM: 'exit7', STAY: '1', OTEL_METRICS_EXPORTER: 'none' });
    await run.ready;
    run.child.kill('SIGTERM');
    const [code] = await once(run.child, 'exit');
    assert.equal(code, 7);
    assert.match(run.stdout(), /app handled SIGTERM/);
  });

  it('opens no port with OTEL_METRICS_EXPORTER=none and exits as the app would', async () => {
    const server = await startServer();
    const port = await closedPort();
    const run = runApp(server, { OTEL_METRICS_EXPORTER: 'none', OTEL_EXPORTER_PROMETHEUS_PORT: String(port), REQUESTS: '2' });
    const [code] = await once(run.child, 'exit');
    assert.equal(code, 0);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`));
    assert.equal(run.stderr(), '');
  });
});
