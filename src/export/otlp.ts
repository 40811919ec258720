import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { EXIT_BOUND_MILLIS, invalid } from '../config.js';
import { warnOnce } from '../warn.js';

type Env = Readonly<Record<string, string | undefined>>;

/** The standard variables poolscope checks before the SDK reads them: the signal's own first. */
const PROTOCOL_VARIABLES = ['OTEL_EXPORTER_OTLP_METRICS_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL'] as const;
const TIMEOUT_VARIABLES = ['OTEL_EXPORTER_OTLP_METRICS_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT'] as const;
const ENDPOINT_VARIABLES = ['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT'] as const;

/**
 * The OTLP exporter for the protocol the standard variables ask for; it reads its other
 * variables (endpoint, headers, compression) itself. Unless a timeout is set, an export may take
 * half of `EXIT_BOUND_MILLIS`, retries included: when the app ends, a periodic export still
 * running and then the last export hold it that long at most, whatever the endpoint does.
 */
export async function otlpExporter(env: Env = process.env): Promise<ReportingExporter> {
  const protocol = chosenProtocol(env);
  const timeoutSet = TIMEOUT_VARIABLES.some((name) => given(env, name, (value) => Number.isFinite(Number(value)) && Number(value) > 0, 'a number of milliseconds above 0'));
  for (const name of ENDPOINT_VARIABLES) {
    given(env, name, (value) => /^https?:$/.test(URL.parse(value)?.protocol ?? ''), 'an http:// or https:// URL');
  }
  const config = timeoutSet ? {} : { timeoutMillis: EXIT_BOUND_MILLIS / 2 };
  const exporter = protocol === 'http/json'
    ? new (await import('@opentelemetry/exporter-metrics-otlp-http')).OTLPMetricExporter(config)
    : new (await import('@opentelemetry/exporter-metrics-otlp-proto')).OTLPMetricExporter(config);
  return new ReportingExporter(exporter);
}

function chosenProtocol(env: Env): 'http/protobuf' | 'http/json' {
  for (const name of PROTOCOL_VARIABLES) {
    if (given(env, name, (value) => value === 'http/json' || value === 'http/protobuf', 'http/protobuf or http/json')) {
      return env[name]!.trim() as 'http/protobuf' | 'http/json';
    }
  }
  return 'http/protobuf';
}

/**
 * Whether a variable is set to a valid value. An invalid one gets one warning, and then the SDK
 * (which reads it too) and poolscope fall back to their defaults, as if it were not set.
 */
function given(env: Env, name: string, valid: (value: string) => boolean, accepted: string): boolean {
  const value = env[name]?.trim();
  if (value === undefined || value === '') return false;
  if (valid(value)) return true;
  invalid({ name, value }, accepted, 'the default');
  return false;
}

/**
 * Passes exports on to the SDK's exporter, one at a time, and says once when one fails.
 *
 * One at a time: the SDK's reader keeps the process alive while an export runs, so exports that
 * overlap (an endpoint slower than the interval) would keep a finished app from ever exiting.
 * An export due while the previous one runs is skipped; the figures are cumulative, so the next
 * one carries them. The last export, once `ending()` was called, always goes out.
 *
 * Said once: the SDK reports failures only to its diagnostic logger, silent unless the app set
 * one, and an endpoint that never answers would otherwise go unnoticed. (Aggregation and
 * temporality selectors are not passed on: poolscope's producer hands over finished data.)
 */
export class ReportingExporter implements PushMetricExporter {
  readonly #exporter: PushMetricExporter;
  #running = false;
  #ending = false;

  constructor(exporter: PushMetricExporter) {
    this.#exporter = exporter;
  }

  /** The app is ending: the next export is the last, and goes out whatever else runs. */
  ending(): void {
    this.#ending = true;
  }

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    if (this.#running && !this.#ending) {
      resultCallback({ code: ExportResultCode.FAILED, error: new Error('the previous export is still running') });
      return;
    }
    this.#running = true;
    this.#exporter.export(metrics, (result) => {
      this.#running = false;
      if (result.code !== ExportResultCode.SUCCESS) {
        warnOnce('POOLSCOPE_EXPORT_FAILED',
          `poolscope: an OTLP export failed (${String(result.error?.message ?? result.error ?? 'no answer')}); ` +
          'metrics are not exported while the endpoint does not take them. The app runs on; this is said once.');
      }
      resultCallback(result);
    });
  }

  forceFlush(): Promise<void> {
    return this.#exporter.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.#exporter.shutdown();
  }
}
