import { mean, quantile, requestsOf, reuseRateOf, type Histogram, type OriginFigures } from './figures.js';
import { duration, percent, plural } from '../format.js';
import { SERIES, type SeriesKey } from './series.js';
import { DEFAULTS } from '../../config.js';
import { advisedKeepAliveMs, MAX_SENSIBLE_KEEP_ALIVE_MS } from './keep-alive.js';
import { changesFor, type Changes } from './changes.js';

export type FindingKind =
  | 'too-little-traffic'
  | 'client-per-request'
  | 'keep-alive-churn'
  | 'pool-too-small'
  | 'http2'
  | 'connect-errors'
  | 'low-reuse';

/** One thing wrong with an origin, in plain words: what, the figures that show it, and what to change. */
export interface Finding {
  readonly kind: FindingKind;
  readonly summary: string;
  readonly evidence: string;
  readonly change: string;
}

export interface DiagnosisOptions {
  /** Fewer requests than this and an origin is not diagnosed. */
  readonly minRequests: number;
  /** Reuse below this, with no other cause found, is a finding of its own. */
  readonly reuseTarget: number;
}

/** Throughput measured over a known time: what Little's law needs beyond one reading. */
export interface Throughput {
  readonly seconds: number;
  readonly requestsPerSecond: number;
  /** Mean time in queue over the same time; null when no request was timed then. */
  readonly meanQueueSeconds: number | null;
}

export const DEFAULT_MIN_REQUESTS = 20;
export const DEFAULT_REUSE_TARGET = 0.85;
/** The agent's default churn window: reopens counted happened within it. */
const CHURN_WINDOW_SECONDS = DEFAULTS.churnWindowMillis / 1000;
/** Pools created for at least one request in four: a client is being built per call. */
const POOLS_PER_REQUEST = 0.25;
/** Reopened connections, as a share of those opened, that make churn a finding. */
const CHURN_SHARE = 0.1;
/** A p95 time in queue below this is noise, whatever the setup time. */
const QUEUE_FLOOR_SECONDS = 0.01;
/** Requests in flight at once that make HTTP/2 worth it over one connection each. */
const HTTP2_CONCURRENCY = 8;
const CONNECT_ERROR_SHARE = 0.01;

/** Rules that could not run because the sources lack the series they read. */
const RULE_NEEDS: ReadonlyArray<readonly [string, SeriesKey]> = [
  ['client built per request', 'poolsCreated'],
  ['keep-alive churn', 'connectionsReopened'],
  ['requests queueing for a connection', 'timeInQueue'],
];

export function notChecked(present: ReadonlySet<SeriesKey>): string[] {
  return RULE_NEEDS.filter(([, key]) => !present.has(key))
    .map(([rule, key]) => `${rule} (needs ${SERIES[key]}, which these sources do not export)`);
}

export function hasEnoughTraffic(figures: OriginFigures, options: DiagnosisOptions): boolean {
  return requestsOf(figures) >= options.minRequests;
}

/** Findings for one origin, most fundamental cause first, each change in the words of its kind of pool. */
export function diagnose(
  figures: OriginFigures,
  present: ReadonlySet<SeriesKey>,
  options: DiagnosisOptions,
  throughput?: Throughput,
): Finding[] {
  const requests = requestsOf(figures);
  if (requests < options.minRequests) {
    // An origin whose every connection fails sends no request at all: its errors are the finding.
    const failing = connectErrors(figures, changesFor(figures));
    if (failing) return [failing];
    return [{
      kind: 'too-little-traffic',
      summary: 'Too little traffic to judge.',
      evidence: `${plural(requests, 'request')} seen; at least ${options.minRequests} are needed before reuse means anything.`,
      change: 'Nothing to change yet: run this again once the origin has served more requests.',
    }];
  }
  const findings: Finding[] = [];
  const changes = changesFor(figures);
  const perRequest = present.has('poolsCreated') ? clientPerRequest(figures, changes) : undefined;
  if (perRequest) findings.push(perRequest);
  // A client per request closes its sockets with it, so its reconnects are not a keep-alive problem.
  const churn = !perRequest && present.has('connectionsReopened') ? keepAliveChurn(figures, changes) : undefined;
  if (churn) findings.push(churn);
  const queueing = present.has('timeInQueue') ? poolTooSmall(figures, changes, throughput) : undefined;
  if (queueing) findings.push(queueing.finding);
  const http2 = multiplexing(figures, changes, queueing?.demand ?? figures.activeRequestsPeak);
  if (http2) findings.push(http2);
  const errors = connectErrors(figures, changes);
  if (errors) findings.push(errors);
  const reuse = reuseRateOf(figures) ?? 0;
  if (!perRequest && !churn && reuse < options.reuseTarget) findings.push(lowReuse(figures, changes, reuse, options.reuseTarget));
  return findings;
}

function clientPerRequest(figures: OriginFigures, changes: Changes): Finding | undefined {
  const requests = requestsOf(figures);
  const pools = figures.poolsCreated;
  if (pools < 2 || pools < POOLS_PER_REQUEST * requests) return undefined;
  return {
    kind: 'client-per-request',
    summary: changes.clientPerRequestSummary,
    evidence: `${plural(pools, 'pool')} created for ${plural(requests, 'request')} (one per ${(requests / pools).toFixed(1)} requests); ` +
      `${plural(figures.connectionsOpened, 'connection')} opened, reuse ${percent(reuseRateOf(figures))}.`,
    change: changes.clientPerRequest,
  };
}

function keepAliveChurn(figures: OriginFigures, changes: Changes): Finding | undefined {
  const reopened = figures.connectionsReopened;
  if (reopened < 2 || reopened < CHURN_SHARE * figures.connectionsOpened) return undefined;
  // The longest idle before a reuse is what the keep-alive covers today; the gaps that closed
  // connections are what it must cover.
  const longestReused = bucketAbove(figures.idleTime, 1);
  const covered = longestReused === null ? '' : `; sockets idle up to ${duration(longestReused)} were reused`;
  const gapP95 = quantile(figures.reopenedAfter, 0.95);
  const gaps = gapP95 === null ? '' : `, 95% of them after a gap of at most ${duration(gapP95)}`;
  return {
    kind: 'keep-alive-churn',
    summary: 'Connections close while idle just before the next call needs one: the keep-alive is shorter than the gaps between calls.',
    evidence: `${reopened} of ${plural(figures.connectionsOpened, 'new connection')} were opened within ` +
      `${CHURN_WINDOW_SECONDS} s after an idle one to this origin had closed${gaps}${covered}; reuse ${percent(reuseRateOf(figures))}.`,
    change: keepAliveChange(gapP95, changes),
  };
}

/** The keep-alive that covers the gaps, or why none would. */
function keepAliveChange(gapP95: number | null, changes: Changes): string {
  if (gapP95 === null) return changes.keepAliveUnsized;
  const advisedMs = advisedKeepAliveMs(gapP95);
  if (advisedMs > MAX_SENSIBLE_KEEP_ALIVE_MS) {
    return 'No keep-alive covers these gaps: they run past a minute, longer than servers and load balancers keep an idle ' +
      'connection open. Expect a new connection after each pause, or send a cheap request just before a burst so that ' +
      'its first call does not pay for the setup.';
  }
  return changes.keepAlive(advisedMs);
}

function poolTooSmall(figures: OriginFigures, changes: Changes, throughput: Throughput | undefined): { finding: Finding; demand: number } | undefined {
  const queueP95 = quantile(figures.timeInQueue, 0.95);
  const meanQueue = throughput?.meanQueueSeconds ?? mean(figures.timeInQueue);
  if (queueP95 === null || meanQueue === null || queueP95 < QUEUE_FLOOR_SECONDS) return undefined;
  // Time in queue includes connecting for a request that opens a socket; what is left is the
  // wait for a free connection.
  const setupMean = mean(figures.setupDuration) ?? 0;
  const wait = meanQueue - (figures.requestsNew / requestsOf(figures)) * setupMean;
  if (wait < QUEUE_FLOOR_SECONDS) return undefined;
  const connections = figures.openConnections;
  const pools = Math.max(figures.pools, 1);
  const perPool = Math.ceil(connections / pools);
  const setupP50 = quantile(figures.setupDuration, 0.5);
  const setup = setupP50 === null ? '' : ` (opening a connection takes ${duration(setupP50)})`;
  const held = connections === 0 ? 'a connection (none is open now)'
    : `one of the ${plural(connections, 'connection')} open${pools > 1 ? ` over ${pools} pools` : ''}`;
  const evidence = `p95 time in queue ${duration(queueP95)}${setup}; requests waited ${duration(wait)} on average for ${held}.`;
  const summary = 'Requests wait for a free connection: the pool is smaller than the concurrency the calls need.';
  if (throughput === undefined || throughput.requestsPerSecond <= 0 || connections === 0) {
    const raise = changes.poolFirstStep(perPool);
    return {
      demand: figures.activeRequestsPeak,
      finding: {
        kind: 'pool-too-small', summary, evidence,
        change: `${raise} and look again. Read the /metrics of the service while it is busy for the exact size: ` +
          'the report then measures throughput and sizes the pool by Little\'s law.',
      },
    };
  }
  // Little's law on the queue: requests waiting at any moment = arrival rate x mean wait.
  const waiting = throughput.requestsPerSecond * wait;
  const demand = connections + waiting;
  const needed = Math.max(perPool + 1, Math.ceil(demand / pools));
  return {
    demand,
    finding: {
      kind: 'pool-too-small', summary,
      evidence: `${evidence} At ${rate(throughput.requestsPerSecond)}, Little's law puts ${waiting.toFixed(1)} requests ` +
        `in the queue at any moment on top of the ${connections} being served.`,
      change: `Size the pool for at least ${Math.ceil(demand)} requests at once: ${changes.poolSize(needed, perPool)}`,
    },
  };
}

function multiplexing(figures: OriginFigures, changes: Changes, demand: number): Finding | undefined {
  if (changes.http2 === undefined || demand < HTTP2_CONCURRENCY || !figures.origin.startsWith('https://')) return undefined;
  if ((figures.openedByProtocol.get('2') ?? 0) > 0 || figures.streamsPeak > 1) return undefined;
  return {
    kind: 'http2',
    summary: 'Many requests in flight at once, each on its own HTTP/1.1 connection.',
    evidence: `up to ${Math.ceil(demand)} requests at once; all ${plural(figures.connectionsOpened, 'connection')} HTTP/1.1, ` +
      `at most ${Math.max(figures.streamsPeak, 1)} request on any one.`,
    change: changes.http2,
  };
}

function connectErrors(figures: OriginFigures, changes: Changes): Finding | undefined {
  let total = 0;
  for (const count of figures.connectionErrors.values()) total += count;
  if (total === 0 || total < CONNECT_ERROR_SHARE * requestsOf(figures)) return undefined;
  const types = [...figures.connectionErrors].filter(([, count]) => count > 0)
    .sort((a, b) => b[1] - a[1]).map(([type, count]) => `${type} ${count}`).join(', ');
  return {
    kind: 'connect-errors',
    summary: 'Connection attempts fail.',
    evidence: `${plural(total, 'failed connection attempt')} (${types}) for ${plural(figures.connectionsOpened, 'connection')} opened.`,
    change: changes.connectErrors,
  };
}

function lowReuse(figures: OriginFigures, changes: Changes, reuse: number, target: number): Finding {
  const perConnection = mean(figures.connectionRequests);
  const served = perConnection === null ? '' : `; closed connections had served ${perConnection.toFixed(1)} requests each on average`;
  return {
    kind: 'low-reuse',
    summary: 'Most requests open a new connection.',
    evidence: `reuse ${percent(reuse)}, below ${percent(target)}: ${plural(figures.connectionsOpened, 'connection')} ` +
      `opened for ${plural(requestsOf(figures), 'request')}${served}.`,
    change: changes.lowReuse,
  };
}

/** The upper bound of the bucket the q-quantile falls in: at least a share q of the samples were at most that. */
function bucketAbove(histogram: Histogram, q: number): number | null {
  if (histogram.count === 0) return null;
  const bounds = [...histogram.buckets.keys()].sort((a, b) => a - b);
  for (const bound of bounds) {
    if (histogram.buckets.get(bound)! >= q * histogram.count) return Number.isFinite(bound) ? bound : null;
  }
  return null;
}

function rate(perSecond: number): string {
  return `${perSecond.toFixed(perSecond < 10 ? 1 : 0)} requests/s`;
}
