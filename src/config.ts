import { isIP } from 'node:net';
import type { MeterProvider } from '@opentelemetry/api';
import type { HistogramDetail } from './metrics/catalog.js';
import type { ExporterName, PipelineChoice, PoolscopeOptions } from './types.js';
import { warnOnce } from './warn.js';

/** Options with every default applied and every value checked. */
export interface ResolvedOptions {
  readonly exporters: readonly ExporterName[];
  readonly host: string | undefined;
  readonly port: number;
  readonly maxOrigins: number;
  readonly exportIntervalMillis: number;
  readonly meterProvider: MeterProvider | undefined;
  readonly serviceName: string | undefined;
  readonly churnWindowMillis: number;
  readonly instrumentGlobalDispatcher: boolean;
  readonly pipeline: PipelineChoice;
  readonly appSdkWaitMillis: number;
  readonly histograms: HistogramDetail;
}

type Env = Readonly<Record<string, string | undefined>>;
type Setting = Exclude<keyof PoolscopeOptions, 'meterProvider'>;

/** The environment variable behind each option. */
export const ENVIRONMENT: Readonly<Record<Setting, string>> = {
  exporters: 'OTEL_METRICS_EXPORTER',
  host: 'OTEL_EXPORTER_PROMETHEUS_HOST',
  port: 'OTEL_EXPORTER_PROMETHEUS_PORT',
  maxOrigins: 'POOLSCOPE_MAX_ORIGINS',
  exportIntervalMillis: 'OTEL_METRIC_EXPORT_INTERVAL',
  serviceName: 'OTEL_SERVICE_NAME',
  churnWindowMillis: 'POOLSCOPE_CHURN_WINDOW_MILLIS',
  instrumentGlobalDispatcher: 'POOLSCOPE_INSTRUMENT_GLOBAL_DISPATCHER',
  pipeline: 'POOLSCOPE_PIPELINE',
  appSdkWaitMillis: 'POOLSCOPE_APP_SDK_WAIT_MILLIS',
  histograms: 'POOLSCOPE_HISTOGRAMS',
};

/**
 * How long the end of the app (a signal, `beforeExit`) may wait for the last export, and so the
 * longest an OTLP export may take unless `OTEL_EXPORTER_OTLP_TIMEOUT` says otherwise.
 */
export const EXIT_BOUND_MILLIS = 2_000;

export const DEFAULTS = {
  exporters: ['prometheus'] as readonly ExporterName[],
  port: 9464,
  maxOrigins: 100,
  exportIntervalMillis: 60_000,
  churnWindowMillis: 60_000,
  instrumentGlobalDispatcher: true,
  pipeline: 'auto' as PipelineChoice,
  appSdkWaitMillis: 10_000,
  histograms: 'default' as HistogramDetail,
} as const;

const EXPORTERS: readonly string[] = ['prometheus', 'otlp', 'console'];

/** A setting as given: its name as the user wrote it (option or variable) and its raw value. */
interface Given { readonly name: string; readonly value: unknown }

function given(options: PoolscopeOptions, env: Env, setting: Setting): Given | undefined {
  if (options[setting] !== undefined) return { name: `option ${setting}`, value: options[setting] };
  const variable = ENVIRONMENT[setting];
  const value = env[variable];
  return value === undefined || value.trim() === '' ? undefined : { name: variable, value };
}

/** The one warning for a setting that is not valid: its name, its value, what it accepts, what is used. */
export function invalid({ name, value }: Given, accepted: string, fallback: string): void {
  warnOnce('POOLSCOPE_INVALID_SETTING',
    `poolscope: ${name}=${JSON.stringify(value)} is not valid; it accepts ${accepted}. Using ${fallback}.`,
    `setting:${name}`);
}

function integer(setting: Given | undefined, min: number, max: number, fallback: number): number {
  if (setting === undefined) return fallback;
  const { value } = setting;
  const number = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof number === 'number' && Number.isInteger(number) && number >= min && number <= max) return number;
  invalid(setting, `a whole number from ${min} to ${max}`, String(fallback));
  return fallback;
}

function exporterList(setting: Given | undefined): readonly ExporterName[] {
  if (setting === undefined) return DEFAULTS.exporters;
  const { value } = setting;
  const names = typeof value === 'string' ? value.split(',').map((name) => name.trim().toLowerCase()) : value;
  if (Array.isArray(names)) {
    const chosen = names.filter((name) => name !== 'none');
    if (chosen.every((name) => EXPORTERS.includes(name))) return [...new Set(chosen as ExporterName[])];
  }
  invalid(setting, `a comma list of ${[...EXPORTERS, 'none'].join(', ')}`, DEFAULTS.exporters.join(','));
  return DEFAULTS.exporters;
}

function flag(setting: Given | undefined, fallback: boolean): boolean {
  if (setting === undefined) return fallback;
  const { value } = setting;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const word = value.trim().toLowerCase();
    if (word === 'true' || word === '1') return true;
    if (word === 'false' || word === '0') return false;
  }
  invalid(setting, 'true or false', String(fallback));
  return fallback;
}

/** A setting that takes one of a few words; anything else gets the warning and the default. */
function oneOf<T extends string>(setting: Given | undefined, words: readonly T[], fallback: T): T {
  if (setting === undefined) return fallback;
  const { value } = setting;
  const word = typeof value === 'string' ? value.trim().toLowerCase() : value;
  if (words.includes(word as T)) return word as T;
  invalid(setting, words.join(', '), fallback);
  return fallback;
}

const PIPELINES: readonly PipelineChoice[] = ['auto', 'app', 'own'];
const HISTOGRAM_DETAILS: readonly HistogramDetail[] = ['default', 'detailed', 'minimal'];

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** An interface to listen on: an IP address or a host name, nothing that would need guessing. */
function listenHost(setting: Given | undefined): string | undefined {
  if (setting === undefined) return undefined;
  const { value } = setting;
  const host = typeof value === 'string' ? value.trim() : value;
  if (typeof host === 'string' && (isIP(host) !== 0 || (host.length <= 253 && HOST_NAME.test(host)))) return host;
  invalid(setting, 'an IP address or a host name', 'all interfaces');
  return undefined;
}

function text(setting: Given | undefined): string | undefined {
  if (setting === undefined) return undefined;
  if (typeof setting.value === 'string' && setting.value.trim() !== '') return setting.value.trim();
  invalid(setting, 'a non-empty string', 'the default');
  return undefined;
}

/** The standard variable that asks OTLP exporters for base-2 exponential histograms. */
export const HISTOGRAM_AGGREGATION_VARIABLE = 'OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION';
const HISTOGRAM_AGGREGATIONS = ['explicit_bucket_histogram', 'base2_exponential_bucket_histogram'] as const;

/**
 * Whether poolscope's own OTLP exporter sends exponential histograms, as the standard variable
 * asks (trimmed, any case, as the specification reads enum values). Decided at start, as every
 * histogram then keeps exponential buckets beside its explicit ones. Only read where poolscope
 * may export OTLP itself: through an app's MeterProvider, the variable is the app's SDK's.
 */
export function exponentialHistograms(options: ResolvedOptions, env: Env = process.env): boolean {
  if (!options.exporters.includes('otlp') || options.meterProvider !== undefined || options.pipeline === 'app') return false;
  const value = env[HISTOGRAM_AGGREGATION_VARIABLE];
  if (value === undefined || value.trim() === '') return false;
  const setting = { name: HISTOGRAM_AGGREGATION_VARIABLE, value };
  return oneOf(setting, HISTOGRAM_AGGREGATIONS, 'explicit_bucket_histogram') === 'base2_exponential_bucket_histogram';
}

/** Explicit options win over the environment; anything invalid gets one warning and the default. */
export function resolveOptions(options: PoolscopeOptions = {}, env: Env = process.env): ResolvedOptions {
  return {
    exporters: exporterList(given(options, env, 'exporters')),
    host: listenHost(given(options, env, 'host')),
    port: integer(given(options, env, 'port'), 0, 65535, DEFAULTS.port),
    maxOrigins: integer(given(options, env, 'maxOrigins'), 1, 100_000, DEFAULTS.maxOrigins),
    exportIntervalMillis: integer(given(options, env, 'exportIntervalMillis'), 100, 86_400_000, DEFAULTS.exportIntervalMillis),
    meterProvider: options.meterProvider,
    serviceName: text(given(options, env, 'serviceName')),
    churnWindowMillis: integer(given(options, env, 'churnWindowMillis'), 0, 86_400_000, DEFAULTS.churnWindowMillis),
    instrumentGlobalDispatcher: flag(given(options, env, 'instrumentGlobalDispatcher'), DEFAULTS.instrumentGlobalDispatcher),
    pipeline: oneOf(given(options, env, 'pipeline'), PIPELINES, DEFAULTS.pipeline),
    appSdkWaitMillis: integer(given(options, env, 'appSdkWaitMillis'), 0, 600_000, DEFAULTS.appSdkWaitMillis),
    histograms: oneOf(given(options, env, 'histograms'), HISTOGRAM_DETAILS, DEFAULTS.histograms),
  };
}
