import { OriginStats, type OriginIdentity } from './origin-stats.js';
import { OTHER_ORIGIN, type HistogramLayout, type PoolType } from '../metrics/catalog.js';

const DEFAULT_PORTS: Readonly<Record<string, number>> = { 'http:': 80, 'https:': 443 };
/** Longest origin string looked at; anything longer is not an origin an app dials. */
const MAX_ORIGIN_LENGTH = 2048;
/**
 * What a host can be once URL parsing has lower-cased and punycoded it: a DNS name of at most
 * 253 characters (underscores allowed, as internal names use them), an IPv4 address, or an IPv6 one in brackets. URLs accept
 * more (`a"b`, `{x}`), which no resolver answers and no label should carry.
 */
const HOST = /^(?:[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?|\[[0-9a-f:.]+\])$/;

/**
 * Reduces whatever undici calls an origin (`'https://user:pw@api.example.com/'`, a URL object,
 * `connectParams`) to scheme, host and port. Path, query, user name and password never
 * survive; anything that is not http(s) gives undefined.
 */
export function parseOrigin(raw: string): OriginIdentity | undefined {
  if (raw.length > MAX_ORIGIN_LENGTH) return undefined;
  const url = URL.parse(raw);
  if (url === null) return undefined;
  const defaultPort = DEFAULT_PORTS[url.protocol];
  if (defaultPort === undefined || url.hostname.length > 255 || !HOST.test(url.hostname)) return undefined;
  const port = url.port === '' ? defaultPort : Number(url.port);
  const scheme = url.protocol.slice(0, -1);
  // The label carries an IPv6 address without the brackets URLs put around it.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { key: `${scheme}://${url.hostname}:${port}`, scheme, host, port };
}

/**
 * The per-origin records of one kind of pool, found with one map lookup by the string undici
 * gives, or by the scheme and authority node:http gives. At most `maxOrigins` origins get a
 * record of their own; the rest share one `_other` record, so memory and series stay bounded
 * whatever the app calls.
 */
export class OriginRegistry {
  readonly maxOrigins: number;
  /** `poolscope.pool.type` of every record: which client code the app would fix. */
  readonly poolType: PoolType;
  readonly #churnWindowMs: number;
  /** The buckets of every record's histograms. */
  readonly #layout: HistogramLayout;
  readonly #exponential: boolean;
  readonly #byKey = new Map<string, OriginStats>();
  /** Raw origin strings as undici hands them, each parsed once. */
  readonly #byRaw = new Map<string, OriginStats>();
  readonly #maxRaw: number;
  /** Authorities as node:http hands them, per scheme, each parsed once (see `lookupAuthority()`). */
  readonly #httpAuthorities = new Map<string, OriginStats>();
  readonly #httpsAuthorities = new Map<string, OriginStats>();
  #lastAuthority: string | undefined = undefined;
  #lastProtocol: string | undefined = undefined;
  #lastAuthorityStats: OriginStats | undefined = undefined;
  #other: OriginStats | undefined;
  #lastRaw: string | undefined = undefined;
  #lastStats: OriginStats | undefined = undefined;
  /** Called once for each record created, `_other` included. */
  onOriginAdded: ((origin: OriginStats) => void) | undefined = undefined;

  /** `exponential`: every record's histograms also keep base-2 exponential buckets. */
  constructor(maxOrigins: number, churnWindowMs: number, poolType: PoolType, layout: HistogramLayout, exponential = false) {
    this.#layout = layout;
    this.#exponential = exponential;
    this.maxOrigins = maxOrigins;
    this.poolType = poolType;
    this.#churnWindowMs = churnWindowMs;
    this.#maxRaw = maxOrigins * 4 + 64;
  }

  /** The record for an origin string, or undefined when it is not an http(s) origin. */
  lookup(raw: string): OriginStats | undefined {
    // undici builds the string afresh for every request (`url.origin`): one comparison with the
    // last one asked for spares hashing it when an app calls one origin in a row.
    if (raw === this.#lastRaw) return this.#lastStats;
    const known = this.#byRaw.get(raw);
    if (known !== undefined) {
      this.#lastRaw = raw;
      this.#lastStats = known;
      return known;
    }
    const identity = parseOrigin(raw);
    if (identity === undefined) return undefined;
    const stats = this.#byKey.get(identity.key) ?? this.#add(identity);
    // Spellings of origins the app makes up on the fly must not grow this map without bound.
    if (this.#byRaw.size >= this.#maxRaw) this.#byRaw.clear();
    this.#byRaw.set(raw, stats);
    return stats;
  }

  /**
   * The record for a scheme (`'http:'` or `'https:'`, as node:http names it) and an authority
   * (`host`, `host:port`, `[v6]:port`), or undefined when they name no http(s) origin. One map
   * lookup per request, as node:http gives the two apart and joining them costs a string per call.
   */
  lookupAuthority(protocol: string, authority: string): OriginStats | undefined {
    // Node builds the authority afresh for every request: as for `lookup()`, the last one asked
    // for spares hashing it when an app calls one origin in a row.
    if (authority === this.#lastAuthority && protocol === this.#lastProtocol) return this.#lastAuthorityStats;
    const byAuthority = protocol === 'http:' ? this.#httpAuthorities : protocol === 'https:' ? this.#httpsAuthorities : undefined;
    if (byAuthority === undefined) return undefined;
    let stats = byAuthority.get(authority);
    if (stats === undefined) {
      stats = this.lookup(`${protocol}//${authority}`);
      if (stats === undefined) return undefined;
      if (byAuthority.size >= this.#maxRaw) byAuthority.clear();
      byAuthority.set(authority, stats);
    }
    this.#lastAuthority = authority;
    this.#lastProtocol = protocol;
    this.#lastAuthorityStats = stats;
    return stats;
  }

  /** Every record, the `_other` one last. */
  *all(): IterableIterator<OriginStats> {
    yield* this.#byKey.values();
    if (this.#other !== undefined) yield this.#other;
  }

  #add(identity: OriginIdentity): OriginStats {
    if (this.#byKey.size >= this.maxOrigins) {
      if (this.#other === undefined) {
        this.#other = new OriginStats({ key: OTHER_ORIGIN, scheme: '', host: OTHER_ORIGIN, port: 0 }, this.poolType, this.#churnWindowMs, this.#layout, this.#exponential);
        this.onOriginAdded?.(this.#other);
      }
      return this.#other;
    }
    const stats = new OriginStats(identity, this.poolType, this.#churnWindowMs, this.#layout, this.#exponential);
    this.#byKey.set(identity.key, stats);
    this.onOriginAdded?.(stats);
    return stats;
  }
}
