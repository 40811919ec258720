export { start } from './agent.js';
export { METRICS, type HistogramDetail, type MetricSpec, type PoolType } from './metrics/catalog.js';
export { instrument, interceptor, type Dispatch, type Interceptor } from './taps/undici/dispatch-timing.js';
export type { DurationSummary, ExporterName, OriginSnapshot, PipelineChoice, PoolscopeAgent, PoolscopeOptions } from './types.js';
