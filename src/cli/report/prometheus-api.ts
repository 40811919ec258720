import http from 'node:http';
import https from 'node:https';
import { get, NoAnswer } from './http-get.js';
import { SourceError } from './sources.js';
import { ownAgent } from '../../taps/node-http/own-traffic.js';

/** A query over a long window of a whole fleet can take a while; Prometheus' own limit is 2 minutes. */
const QUERY_TIMEOUT_MS = 30_000;
const MAX_ANSWER_BYTES = 64 << 20;
/** Queries in flight at once: enough to be quick, few enough not to crowd a shared Prometheus. */
export const QUERY_CONCURRENCY = 4;

/** One series of an instant query's answer. */
export interface VectorSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

interface ApiAnswer {
  status: 'success' | 'error';
  data?: { resultType?: unknown; result?: unknown };
  errorType?: unknown;
  error?: unknown;
  warnings?: unknown;
}

/** The URL as messages show it: no user, password or query string, which may carry credentials. */
export function shownUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * The instant-query endpoint of the Prometheus HTTP API under `base`, as Prometheus, Thanos,
 * Mimir and VictoriaMetrics serve it: `base` may carry a path prefix (`/prometheus`,
 * `/select/0/prometheus`) and query parameters of its own (`?partial_response=false`), and may
 * already name `/api/v1` or `/api/v1/query`.
 */
function queryEndpoint(base: URL): URL {
  const endpoint = new URL(base.href);
  endpoint.pathname = `${base.pathname.replace(/\/+$/, '').replace(/\/api\/v1(\/query)?$/, '')}/api/v1/query`;
  endpoint.hash = '';
  return endpoint;
}

function isApiAnswer(body: unknown): body is ApiAnswer {
  return typeof body === 'object' && body !== null && ((body as ApiAnswer).status === 'success' || (body as ApiAnswer).status === 'error');
}

/** Instant queries against one Prometheus HTTP API, over kept-alive connections. */
export class PrometheusApi {
  /** The API's address as messages show it. */
  readonly shown: string;
  /** What the API warned of (a Thanos partial answer, say), once each. */
  readonly warnings = new Set<string>();
  private readonly endpoint: URL;
  private readonly headers: Readonly<Record<string, string>>;
  private readonly agent: http.Agent;
  private readonly hint: string;

  /** `selector` only names the user's matcher in the message for a query Prometheus refuses. */
  constructor(base: URL, headers: Readonly<Record<string, string>>, selector: string) {
    this.endpoint = queryEndpoint(base);
    this.shown = shownUrl(base);
    this.headers = { accept: 'application/json', ...headers };
    const options = { keepAlive: true, maxSockets: QUERY_CONCURRENCY };
    this.agent = ownAgent(base.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options));
    this.hint = selector === '' ? '' : `; is --selector ${selector} a PromQL label matcher, such as {job="api"}?`;
  }

  /** The vector `expr` gives at `time` (unix seconds). */
  async query(expr: string, time: number): Promise<VectorSample[]> {
    const url = new URL(this.endpoint.href);
    url.searchParams.set('query', expr);
    url.searchParams.set('time', time.toFixed(3));
    let answer;
    try {
      answer = await get(url, { headers: this.headers, timeoutMs: QUERY_TIMEOUT_MS, maxBytes: MAX_ANSWER_BYTES, agent: this.agent });
    } catch (error) {
      if (!(error instanceof NoAnswer)) throw error;
      const reason = error.kind === 'network'
        ? `${error.message}. Is that the address of Prometheus (or Thanos, Mimir, VictoriaMetrics), and is it running?`
        : error.message;
      throw new SourceError(`cannot query ${this.shown}: ${reason}`);
    }
    let body: unknown;
    try {
      body = JSON.parse(answer.body);
    } catch {
      body = undefined;
    }
    if (isApiAnswer(body)) return this.vectorOf(body);
    throw new SourceError(this.notTheApi(answer.status, answer.contentType));
  }

  close(): void {
    this.agent.destroy();
  }

  private vectorOf(body: ApiAnswer): VectorSample[] {
    if (body.status === 'error') {
      const type = typeof body.errorType === 'string' ? `${body.errorType}: ` : '';
      const hint = body.errorType === 'bad_data' ? this.hint : '';
      throw new SourceError(`${this.shown} refused the query (${type}${String(body.error ?? 'no reason given')})${hint}`);
    }
    if (Array.isArray(body.warnings)) for (const warning of body.warnings) this.warnings.add(String(warning));
    const { resultType, result } = body.data ?? {};
    if (resultType !== 'vector' || !Array.isArray(result)) {
      throw new SourceError(`${this.shown} answered a ${String(resultType)} where the Prometheus API answers an instant query with a vector`);
    }
    return result.flatMap((series: { metric?: Record<string, string>; value?: [number, string] }) =>
      series.metric === undefined || !Array.isArray(series.value) ? [] : [{ metric: series.metric, value: Number(series.value[1]) }]);
  }

  private notTheApi(status: number, contentType: string): string {
    const where = `${this.shown} answered HTTP ${status}`;
    if (status === 401 || status === 403) {
      return 'authorization' in lowerCaseKeys(this.headers)
        ? `${where}: it does not accept the credentials given with --header`
        : `${where}: it wants credentials; give them with --header 'Authorization: Bearer TOKEN' (or the header it expects)`;
    }
    if (status >= 300 && status < 400) return `${where}, a redirect, which the report does not follow: give the URL it redirects to`;
    if (status === 404 && /\/metrics\/?$/.test(this.shown)) {
      return `${where}: that is a /metrics endpoint, which \`poolscope report ${this.shown}\` reads; --prometheus takes the address of Prometheus`;
    }
    if (status === 404) {
      return `${where} for ${this.endpoint.pathname}: give the address under which it serves the Prometheus API ` +
        '(http://prometheus:9090, or with the path prefix of Mimir, Thanos or VictoriaMetrics)';
    }
    const what = contentType === '' ? '' : ` (${contentType.split(';')[0]})`;
    return `${where}${what}, not an answer of the Prometheus query API: is that the address of Prometheus?`;
  }
}

function lowerCaseKeys(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

/** Runs `tasks` at most `limit` at a time; rejects with the first failure, once every started task has ended. */
export async function inTurns<T>(tasks: ReadonlyArray<() => Promise<T>>, limit: number): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < tasks.length) {
      const index = next++;
      try {
        results[index] = await tasks[index]!();
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (failure !== undefined) throw failure.error;
  return results;
}
