import type { MeterProvider } from '@opentelemetry/api';
import type { MeterProvider as SdkMeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { ENVIRONMENT, type ResolvedOptions } from '../config.js';
import { HISTOGRAM_LAYOUTS } from '../metrics/catalog.js';
import type { Readings } from '../peers/readings.js';
import type { OriginSource } from '../state/origin-registries.js';
import { ConsumerTable, type Consumer } from '../state/peaks.js';
import { warnOnce } from '../warn.js';
import { registeredMeterProvider, whenMeterProviderRegistered } from './app-sdk.js';
import { MeterBridge } from './meter-bridge.js';
import type { ResourceAttributes } from './resource.js';

/** How often, once poolscope's own exporters run, to look for an SDK registered too late. */
const LATE_LOOK_EVERY_MS = 1_000;

/** Where the figures go out: through the app's OpenTelemetry SDK, or poolscope's own readers. */
export interface Pipeline {
  /** Where poolscope serves `/metrics`, while it does. */
  readonly metricsUrl: string | undefined;
  close(): Promise<void>;
}

/** What a pipeline reads: the registries the app's MeterProvider observes, and every figure for poolscope's own readers. */
export interface Figures {
  readonly registry: OriginSource;
  readonly gather: (consumer: Consumer | undefined) => Promise<Readings>;
}

/**
 * The pipeline `options` ask for. `auto` joins an app's MeterProvider registered now; failing
 * that, with `appSdkWaitMillis` above 0 (the preload's start), it waits that long for one before
 * it opens poolscope's own exporters, so an SDK started by the app's first lines, or after its
 * configuration loaded, takes its own port first. `app` waits for the app's SDK however long it
 * takes; `own` never joins one.
 */
export async function startPipeline(options: ResolvedOptions, figures: Figures, appSdkWaitMillis: number): Promise<Pipeline> {
  if (options.meterProvider !== undefined) return joined(options.meterProvider, figures, options);
  const registered = options.pipeline === 'own' ? undefined : registeredMeterProvider();
  if (registered !== undefined) return joined(registered, figures, options);
  const pipeline = new SwitchingPipeline(options, figures);
  if (options.pipeline === 'app') pipeline.waitForAppSdk(Infinity);
  else if (options.pipeline === 'auto' && appSdkWaitMillis > 0) pipeline.waitForAppSdk(appSdkWaitMillis);
  else await pipeline.startOwn();
  return pipeline;
}

function joined(provider: MeterProvider, figures: Figures, options: ResolvedOptions): Pipeline {
  const bridge = new MeterBridge(provider, figures.registry, HISTOGRAM_LAYOUTS[options.histograms]);
  return { metricsUrl: undefined, close: async () => bridge.shutdown() };
}

/** Waits for the app's SDK, then joins it or opens poolscope's own exporters. */
class SwitchingPipeline implements Pipeline {
  readonly #options: ResolvedOptions;
  readonly #figures: Figures;
  #current: Pipeline | undefined;
  #starting: Promise<void> | undefined;
  #stopLooking: (() => void) | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: ResolvedOptions, figures: Figures) {
    this.#options = options;
    this.#figures = figures;
  }

  get metricsUrl(): string | undefined {
    return this.#current?.metricsUrl;
  }

  waitForAppSdk(ms: number): void {
    this.#stopLooking = whenMeterProviderRegistered((provider) => {
      clearTimeout(this.#deadline);
      if (!this.#closed) this.#current = joined(provider, this.#figures, this.#options);
    });
    if (ms === Infinity) return;
    this.#deadline = setTimeout(() => {
      this.#stopLooking?.();
      void this.startOwn().catch((error: unknown) => {
        warnOnce('POOLSCOPE_NOT_STARTED', `poolscope could not start its exporters (${String(error)}); the app runs without them.`);
      });
    }, ms);
    this.#deadline.unref();
  }

  startOwn(): Promise<void> {
    this.#starting = ownReaders(this.#options, this.#figures.gather).then(async (own) => {
      if (this.#closed) return own.close();
      this.#current = own;
      // A late SDK is only warned about: a look a second is soon enough, for the app's life.
      if (this.#options.pipeline === 'auto') this.#stopLooking = whenMeterProviderRegistered(() => this.#warnLateSdk(), LATE_LOOK_EVERY_MS);
    });
    return this.#starting;
  }

  #warnLateSdk(): void {
    const where = this.metricsUrl === undefined ? 'its own exporters' : `its own /metrics (${this.metricsUrl})`;
    warnOnce('POOLSCOPE_APP_SDK_LATE',
      `poolscope: the app registered an OpenTelemetry MeterProvider after poolscope had started ${where}; poolscope keeps ` +
      'exporting there, and an exporter of the app\'s that wanted the same port could not open it. To export through the ' +
      `app's SDK, set ${ENVIRONMENT.pipeline}=app, or raise ${ENVIRONMENT.appSdkWaitMillis} above the time the app takes to ` +
      'start its SDK.');
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stopLooking?.();
    clearTimeout(this.#deadline);
    await this.#starting?.catch(() => {});
    await this.#current?.close();
  }
}

/**
 * poolscope's own readers, with poolscope's resource. The exporters load only here, and the
 * OpenTelemetry SDK only for the readers that need it: `/metrics` is written by poolscope.
 */
async function ownReaders(options: ResolvedOptions, gather: Figures['gather']): Promise<Pipeline> {
  const [{ createReaders }, { resourceAttributes }] = await Promise.all([import('./readers.js'), import('./resource.js')]);
  const resource = resourceAttributes(options.serviceName);
  const readers = await createReaders(options, { gather, consumers: new ConsumerTable(), resource });
  let provider: SdkMeterProvider | undefined;
  try {
    provider = readers.readers.length === 0 ? undefined : await meterProvider(resource, readers.readers);
  } catch (error) {
    readers.ending();
    await readers.close();
    throw error;
  }
  return {
    metricsUrl: readers.metricsUrl,
    close: async () => {
      readers.ending();
      await Promise.allSettled([provider?.shutdown(), readers.close()]);
    },
  };
}

/** The provider that runs the periodic readers (OTLP, console), with poolscope's resource. */
async function meterProvider(resource: ResourceAttributes, readers: MetricReader[]): Promise<SdkMeterProvider> {
  const [{ MeterProvider }, { resourceFromAttributes }] = await Promise.all([import('@opentelemetry/sdk-metrics'), import('@opentelemetry/resources')]);
  return new MeterProvider({ resource: resourceFromAttributes(resource), readers });
}
