export { start } from './agent.js';
export { METRICS, type MetricSpec } from './metrics/catalog.js';
export type { ExporterName, OriginSnapshot, PoolscopeAgent, PoolscopeOptions } from './types.js';
