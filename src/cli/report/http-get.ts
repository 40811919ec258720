import http from 'node:http';
import https from 'node:https';
import { ownAgent } from '../../taps/node-http/own-traffic.js';

/**
 * The report's one way to GET, through Agents marked as poolscope's own, so that a process that
 * runs the agent (the demo) does not count the report's own reads as traffic to an origin. Its
 * user-agent makes it a scraper of its own, owed its own peaks, whatever else scrapes from
 * this host.
 */
export const USER_AGENT = 'poolscope-report';

/** The Agents of reads given none: a connection per call, poolscope's own. */
const OWN_AGENTS = { http: ownAgent(new http.Agent()), https: ownAgent(new https.Agent()) };

export interface GetOptions {
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly maxBytes: number;
  /** Sockets to reuse across calls (the report's Prometheus queries), marked with `ownAgent()`; one connection per call without. */
  readonly agent?: http.Agent | undefined;
}

export interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** A GET that got no whole answer: refused, timed out, cut off or too large. */
export class NoAnswer extends Error {
  readonly kind: 'network' | 'timeout' | 'too-large';

  constructor(kind: NoAnswer['kind'], reason: string) {
    super(reason);
    this.kind = kind;
  }
}

/** The status and body of any answer; rejects with NoAnswer when there is none. */
export function get(url: URL, options: GetOptions): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const fail = (kind: NoAnswer['kind'], reason: string): void => reject(new NoAnswer(kind, reason));
    const client = url.protocol === 'https:' ? https : http;
    const request = client.get(url, {
      headers: { 'user-agent': USER_AGENT, ...options.headers },
      timeout: options.timeoutMs,
      agent: options.agent ?? (url.protocol === 'https:' ? OWN_AGENTS.https : OWN_AGENTS.http),
    }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes) {
          request.destroy();
          fail('too-large', `it answered more than ${options.maxBytes >> 20} MiB`);
        } else {
          chunks.push(chunk);
        }
      });
      response.on('end', () => resolve({
        status: response.statusCode ?? 0,
        contentType: response.headers['content-type'] ?? '',
        body: Buffer.concat(chunks).toString('utf8'),
      }));
      response.on('error', (error) => fail('network', error.message));
    });
    request.on('timeout', () => {
      request.destroy();
      fail('timeout', `no answer within ${options.timeoutMs / 1000} s`);
    });
    request.on('error', (error: NodeJS.ErrnoException) => fail('network', error.code ?? error.message));
  });
}
