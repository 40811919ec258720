// `/metrics` alone loads nothing of OpenTelemetry: its packages hold ~3 MiB of heap for the life
// of the app, which cost fetch() ~10% more CPU per request (BENCHMARKS.md). Checked by what the
// agent's process loads, through a module hook, by its start and a scrape.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { closedPort } from './helpers/servers.ts';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));

/** Starts the agent in a child process, scrapes it if it serves /metrics, and says which @opentelemetry packages it loaded. */
async function packagesLoaded(env: Record<string, string>): Promise<{ packages: string[]; targetInfo: string | undefined }> {
  const script = `
    import { registerHooks } from 'node:module';
    const packages = new Set();
    registerHooks({
      load(url, context, next) {
        const match = /\\/node_modules\\/(@opentelemetry\\/[^/]+)\\//.exec(url);
        if (match !== null) packages.add(match[1]);
        return next(url, context);
      },
    });
    const { start } = await import('poolscope');
    const agent = await start({ host: '127.0.0.1', port: 0 });
    let targetInfo;
    if (agent.metricsUrl !== undefined) {
      const text = await (await fetch(agent.metricsUrl)).text();
      targetInfo = text.split('\\n').find((line) => line.startsWith('target_info'));
    }
    await agent.shutdown();
    process.stdout.write(JSON.stringify({ packages: [...packages].sort(), targetInfo }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    cwd: projectRoot, env: { ...process.env, ...env }, timeout: 30_000,
  });
  return JSON.parse(stdout) as { packages: string[]; targetInfo: string | undefined };
}

it('serves /metrics without loading any OpenTelemetry package, its target_info as the SDK would write it', async () => {
  const { packages, targetInfo } = await packagesLoaded({
    OTEL_METRICS_EXPORTER: 'prometheus', OTEL_SERVICE_NAME: '', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test%2Cone,team=pools',
  });
  assert.deepEqual(packages, []);
  assert.ok(targetInfo !== undefined, 'a target_info line');
  for (const label of ['deployment_environment="test,one"', 'team="pools"', 'telemetry_sdk_language="nodejs"', 'telemetry_sdk_name="opentelemetry"']) {
    assert.ok(targetInfo.includes(label), `${label} in ${targetInfo}`);
  }
  assert.match(targetInfo, /telemetry_sdk_version="\d+\.\d+\.\d+"/);
});

it('loads the SDK once a reader needs it (OTLP)', async () => {
  const { packages } = await packagesLoaded({
    OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await closedPort()}`, OTEL_EXPORTER_OTLP_TIMEOUT: '200',
  });
  for (const name of ['@opentelemetry/sdk-metrics', '@opentelemetry/resources']) assert.ok(packages.includes(name), `${name} in ${packages.join(', ')}`);
});

it('leaves nothing behind when the SDK cannot load: no subscriber, no /metrics port, and a later start works', async () => {
  const port = await closedPort();
  const script = `
    import diagnosticsChannel from 'node:diagnostics_channel';
    import { registerHooks } from 'node:module';
    import { createServer } from 'node:net';
    registerHooks({
      resolve(specifier, context, next) {
        // Only the provider's import: the OTLP reader is made by then, and /metrics is listening.
        if (specifier === '@opentelemetry/resources' && context.parentURL?.endsWith('/dist/export/pipeline.js')) throw new Error('resources cannot load here');
        return next(specifier, context);
      },
    });
    const { start } = await import('poolscope');
    const failed = await start({ host: '127.0.0.1', port: ${port} }).then(() => undefined, (error) => String(error));
    const subscribed = diagnosticsChannel.hasSubscribers('undici:request:create');
    const portFree = await new Promise((resolve) => {
      const server = createServer().once('error', () => resolve(false)).listen(${port}, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    process.env.OTEL_METRICS_EXPORTER = 'prometheus';
    const again = await start({ host: '127.0.0.1', port: ${port} });
    const served = (await fetch(again.metricsUrl)).status;
    await again.shutdown();
    process.stdout.write(JSON.stringify({ failed, subscribed, portFree, served }));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    cwd: projectRoot, env: { ...process.env, OTEL_METRICS_EXPORTER: 'prometheus,otlp', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await closedPort()}` }, timeout: 30_000,
  });
  const result = JSON.parse(stdout) as { failed: string | undefined; subscribed: boolean; portFree: boolean; served: number };
  assert.match(result.failed ?? '', /resources cannot load here/, 'the start failed');
  assert.equal(result.subscribed, false, 'no channel subscriber left');
  assert.equal(result.portFree, true, 'the /metrics port closed again');
  assert.equal(result.served, 200, 'a later start serves /metrics');
});
