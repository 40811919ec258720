import assert from 'node:assert/strict';
import { after, it } from 'node:test';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { start } from 'poolscope';
import { clients } from './helpers/clients.ts';
import { sleep, startServer } from './helpers/servers.ts';

it('records into the app\'s own MeterProvider beside the app\'s own metrics', async () => {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
  const provider = new MeterProvider({ readers: [reader] });
  provider.getMeter('app').createCounter('app.orders').add(3);
  const agent = await start({ meterProvider: provider });
  after(() => agent.shutdown());
  assert.equal(agent.metricsUrl, undefined, 'no endpoint of poolscope\'s own');

  const server = await startServer();
  const client = clients().find((c) => c.name === 'undici 8 request()')!;
  for (let i = 0; i < 6; i++) {
    await client.request(`${server.origin}/p/${i}`);
    await sleep(2);
  }
  await client.close();
  await reader.forceFlush();
  const metrics = exporter.getMetrics().at(-1)!.scopeMetrics.flatMap((scope) => scope.metrics);
  const byName = new Map(metrics.map((metric) => [metric.descriptor.name, metric]));
  assert.ok(byName.has('app.orders'), 'the app\'s own metric is still exported');
  const requests = byName.get('poolscope.client.requests')!;
  const forServer = requests.dataPoints.filter((p) => p.attributes['server.port'] === server.port);
  const value = (reused: boolean) => forServer.find((p) => p.attributes['poolscope.connection.reused'] === reused)?.value;
  assert.equal(value(false), server.truth.connectionsWithRequests);
  assert.equal((value(false) as number) + (value(true) as number), server.truth.requests);
  const ttfb = byName.get('poolscope.client.request.time_to_first_byte')!;
  const samples = ttfb.dataPoints.filter((p) => p.attributes['server.port'] === server.port)
    .reduce((sum, p) => sum + (p.value as { count: number }).count, 0);
  assert.equal(samples, 6, 'every time to first byte reached the app\'s histogram');
  const peak = byName.get('poolscope.client.active_requests.peak')!.dataPoints.find((p) => p.attributes['server.port'] === server.port);
  assert.equal(peak?.value, 1, 'the requests went one after the other');
  await provider.shutdown();
});
