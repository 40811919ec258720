import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricProducer, MetricReader, PushMetricExporter } from '@opentelemetry/sdk-metrics';
import type { ResolvedOptions } from '../config.js';
import { HISTOGRAM_LAYOUTS, type HistogramLayout } from '../metrics/catalog.js';
import type { Readings } from '../peers/readings.js';
import type { Consumer, ConsumerTable } from '../state/peaks.js';
import { warnOnce } from '../warn.js';
import { targetInfoOf, writeExposition } from './exposition.js';
import type { ResourceAttributes } from './resource.js';

/** The readers that carry poolscope's metrics out, and what must be closed with them. */
export interface Readers {
  readonly readers: MetricReader[];
  readonly metricsUrl: string | undefined;
  /** The app is ending: the next exports are the last. */
  ending(): void;
  close(): Promise<void>;
}

/** What the readers read: every figure, the peaks being `consumer`'s (see `readValues()`). */
export interface Source {
  readonly gather: (consumer: Consumer) => Promise<Readings>;
  readonly consumers: ConsumerTable;
  /** poolscope's resource: `target_info` on `/metrics`, and the provider's for the other readers. */
  readonly resource: ResourceAttributes;
}

/**
 * Builds one reader per chosen exporter; each exporter's package is loaded only when chosen, and
 * `/metrics` alone loads nothing of OpenTelemetry (see `resourceAttributes()`). A reader that
 * cannot start is left out with a warning: the app runs on either way. Each periodic reader,
 * and each `/metrics` scraper, is a consumer of its own.
 */
export async function createReaders(options: ResolvedOptions, source: Source): Promise<Readers> {
  const startedAtMs = Date.now();
  // Histograms keep exponential buckets only where OTLP is to send them (see `exponentialHistograms()`).
  const producer = async (name: string, exponential = false): Promise<MetricProducer> => {
    const { PoolscopeMetricProducer } = await import('./metric-producer.js');
    const consumer = source.consumers.fromStart(name);
    return new PoolscopeMetricProducer(() => source.gather(consumer()), startedAtMs, HISTOGRAM_LAYOUTS[options.histograms], exponential);
  };
  const readers: MetricReader[] = [];
  const lastExports: Array<{ ending(): void }> = [];
  let server: Server | undefined;
  let metricsUrl: string | undefined;
  for (const name of options.exporters) {
    try {
      if (name === 'prometheus') {
        const prometheus = await servePrometheus(options, source);
        if (prometheus === undefined) continue;
        ({ server, metricsUrl } = prometheus);
      } else if (name === 'otlp') {
        const { otlpExporter } = await import('./otlp.js');
        const exporter = await otlpExporter();
        lastExports.push(exporter);
        readers.push(await periodicReader(exporter, options, await producer('otlp', true)));
      } else {
        const { ConsoleMetricExporter } = await import('@opentelemetry/sdk-metrics');
        readers.push(await periodicReader(new ConsoleMetricExporter(), options, await producer('console')));
      }
    } catch (error) {
      warnOnce('POOLSCOPE_EXPORTER_FAILED',
        `poolscope: the ${name} exporter could not start (${String(error)}); its metrics are not exported.`, `exporter:${name}`);
    }
  }
  return {
    readers,
    metricsUrl,
    ending: () => {
      for (const exporter of lastExports) exporter.ending();
    },
    close: () => new Promise<void>((resolve) => {
      if (server === undefined || !server.listening) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/**
 * poolscope serves the endpoint itself: port 0 works, a port in use is a warning, the server
 * never keeps the app's process alive, and a scrape never blocks the app for long. And it is no
 * OpenTelemetry reader: a reader's collection cannot say which scraper asked, and each
 * scraper is owed its own peaks.
 */
async function servePrometheus(options: ResolvedOptions, source: Source) {
  const targetInfo = targetInfoOf(source.resource);
  const layout = HISTOGRAM_LAYOUTS[options.histograms];
  const server = createServer((request, response) => {
    if (request.method === 'GET' && request.url?.split('?')[0] === '/metrics') {
      serveMetrics(source.gather(source.consumers.see(scraperOf(request))), targetInfo, layout, response);
    } else {
      response.statusCode = 404;
      response.end('poolscope serves GET /metrics\n');
    }
  });
  server.unref();
  // A scraper holds its connection open between scrapes (Prometheus does): an ending app must not
  // wait for it to time out.
  server.on('connection', (socket) => socket.unref());
  const where = `${options.host ?? 'all interfaces'} port ${options.port}`;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: options.port, host: options.host }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const fix = code === 'EADDRINUSE' || code === 'EACCES'
      ? 'Set OTEL_EXPORTER_PROMETHEUS_PORT to a free port.'
      : 'Set OTEL_EXPORTER_PROMETHEUS_HOST to an address of this machine.';
    warnOnce('POOLSCOPE_LISTEN_FAILED',
      `poolscope: cannot serve /metrics on ${where} (${typeof code === 'string' ? code : String(error)}); ` +
      `the app runs on without the endpoint. ${fix}`);
    return undefined;
  }
  // Once listening, a server error (a broken scrape connection) must not become the app's crash.
  server.on('error', () => {});
  const { port } = server.address() as AddressInfo;
  const host = options.host === undefined || options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { server, metricsUrl: `http://${shownHost}:${port}/metrics` };
}

/**
 * Who scrapes: its address and user-agent, so two Prometheus replicas, or Prometheus and
 * `poolscope report`, are told apart. (Scrapers behind one proxy with one user-agent are one.)
 * Node's limit on header size bounds the key.
 */
function scraperOf(request: IncomingMessage): string {
  return `scraper ${request.socket.remoteAddress ?? ''} ${request.headers['user-agent'] ?? ''}`;
}

/**
 * A scraper that takes nothing for this long is dropped, after twice as long at most: Node lets
 * a socket's first timeout pass when its write queue moved since the last write (the kernel
 * took part of it), and a stalled scraper's did (seen on Node 24). So 15-30 s; Prometheus's own
 * scrape timeout is 10 s by default.
 */
const SCRAPER_STALL_MS = 15_000;

/**
 * What the exporter's own handler answers, written in chunks that leave the app's event loop
 * free. Each chunk waits until the socket has taken the previous one, so a slow scraper holds
 * one chunk, not the whole text; one that hangs up ends the work.
 */

function serveMetrics(readings: Promise<Readings>, targetInfo: Buffer, layout: HistogramLayout, response: ServerResponse): void {
  response.statusCode = 200;
  response.setHeader('content-type', 'text/plain');
  // A scraper that hangs up mid-answer is no error of the app's; one that stops reading and
  // keeps the connection is dropped once nothing moved for a while, and its readings with it.
  response.on('error', () => {});
  response.setTimeout(SCRAPER_STALL_MS);
  const write = (chunk: Buffer) => new Promise<boolean>((resolve) => {
    if (response.destroyed) return resolve(false);
    const done = (): void => {
      response.off('close', done);
      resolve(!response.destroyed);
    };
    response.on('close', done);
    response.write(chunk, done);
  });
  readings
    .then((all) => writeExposition(all, targetInfo, write, layout))
    .then(() => response.end(), (error: unknown) => {
      warnOnce('POOLSCOPE_SCRAPE_FAILED', `poolscope: /metrics could not be written (${String(error)}); the app runs on. This is said once.`);
      response.end(`# failed to export metrics: ${String(error)}`);
    });
}

async function periodicReader(exporter: PushMetricExporter, options: ResolvedOptions, producer: MetricProducer): Promise<MetricReader> {
  const { PeriodicExportingMetricReader } = await import('@opentelemetry/sdk-metrics');
  return new PeriodicExportingMetricReader({
    exporter,
    exportIntervalMillis: options.exportIntervalMillis,
    exportTimeoutMillis: Math.min(30_000, options.exportIntervalMillis),
    metricProducers: [producer],
  });
}
