export { start } from './agent.js';
export { METRICS, type MetricSpec } from './metrics/catalog.js';
export { instrument, interceptor, type Dispatch, type Interceptor } from './taps/undici/dispatch-timing.js';
export type { DurationSummary, ExporterName, OriginSnapshot, PoolscopeAgent, PoolscopeOptions } from './types.js';
