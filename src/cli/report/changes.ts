import type { OriginFigures } from './figures.js';

/**
 * What to change for each finding, in the words of the kind of pool that carried the origin's
 * requests: undici's Agent and Pool options, or node:http's `http.Agent` and `https.Agent`. The
 * findings and their evidence are the same for both; only the settings differ.
 */
export interface Changes {
  readonly clientPerRequestSummary: string;
  readonly clientPerRequest: string;
  /** Churn when the sources export no gaps to size the keep-alive from. */
  readonly keepAliveUnsized: string;
  /** The keep-alive to set, `advisedMs` from `advisedKeepAliveMs()`. */
  keepAlive(advisedMs: number): string;
  /** The pool to build: `needed` connections to the origin per pool, where each allows `perPool` now. */
  poolSize(needed: number, perPool: number): string;
  /** A first step without a throughput to size from: `perPool` open now, 0 when none is. */
  poolFirstStep(perPool: number): string;
  /** Undefined where the client offers no HTTP/2: the finding is then not made. */
  readonly http2: string | undefined;
  readonly connectErrors: string;
  readonly lowReuse: string;
}

const UNDICI: Changes = {
  clientPerRequestSummary: 'A new client (Agent, Pool or SDK client) is built for the calls: every one starts without a warm connection.',
  clientPerRequest: 'Create one Agent when the service starts and pass it to every call (`fetch(url, { dispatcher: agent })`, ' +
    '`request(url, { dispatcher: agent })`), or install it once with `setGlobalDispatcher(agent)`; ' +
    'build SDK clients (Anthropic, OpenAI) once and share them.',
  keepAliveUnsized: 'Raise keepAliveTimeout on the Agent or Pool above the pauses between calls. These sources export no gaps ' +
    '(`poolscope.client.connection.reopened_after`) to size it from: read an agent that does.',
  keepAlive: (advisedMs) => `Set \`new Agent({ keepAliveTimeout: ${advisedMs} })\` (or the same on the Pool): above the gaps ` +
    'that closed connections here, with headroom. The server must keep an idle connection at least as long: a ' +
    '`Keep-Alive: timeout` it sends caps the Agent\'s keep-alive (less keepAliveTimeoutThreshold), so raise its idle ' +
    'timeout, or the load balancer\'s, where it is shorter.',
  poolSize: (needed, perPool) => `\`new Agent({ connections: ${needed} })\` (or the same on the Pool; it allows ${perPool} now). ` +
    'HTTP/2 is the other way to carry them on one connection.',
  poolFirstStep: (perPool) => perPool === 0 ? 'Raise `connections` on the Agent or Pool (double it to start)'
    : `Raise \`connections\` on the Agent or Pool above ${perPool} (${perPool * 2} to start)`,
  http2: 'If the server speaks HTTP/2, one connection carries them all: `new Agent({ allowH2: true })` ' +
    '(undici 7; undici 8 negotiates HTTP/2 by default).',
  connectErrors: 'ECONNREFUSED: nothing listens at that address and port; a timeout: the host is unreachable or overloaded; ' +
    'a certificate error: the client does not trust the server\'s certificate (the `connect: { ca }` option).',
  lowReuse: 'Look for connections closed after a request: `Connection: close` from the server or the client, `reset: true` ' +
    'on requests, or a server whose keep-alive is off; keep one Agent for the origin.',
};

/**
 * node:http's Agents, `https.Agent` for an https origin. Node's own HTTP/2 client is a session
 * API, not an Agent that axios, got or the AWS SDK take: no HTTP/2 change is named for them.
 */
function nodeHttp(secure: boolean): Changes {
  const module = secure ? 'https' : 'http';
  const agent = `${module}.Agent`;
  return {
    clientPerRequestSummary: 'A new client (an `http.Agent`, or an SDK client that builds one) is built for the calls: ' +
      'every one starts without a warm connection.',
    clientPerRequest: `Create one \`new ${agent}({ keepAlive: true })\` when the service starts and pass it to every call ` +
      `(\`${module}.request(url, { agent })\`, axios's \`${module}Agent\`, got's \`agent: { ${module}: agent }\`), never ` +
      '`agent: false`, which builds an Agent per request; build SDK clients (an axios or got instance, an AWS SDK client) ' +
      'once and share them.',
    keepAliveUnsized: `Raise \`timeout\`, the idle timeout, on the \`${agent}\` above the pauses between calls. These sources ` +
      'export no gaps (`poolscope.client.connection.reopened_after`) to size it from: read an agent that does.',
    keepAlive: (advisedMs) => `Set \`new ${agent}({ keepAlive: true, timeout: ${advisedMs} })\`: \`timeout\` is how long the ` +
      'Agent keeps an idle socket, here above the gaps that closed connections, with headroom. The server must keep an ' +
      'idle connection longer still: a `Keep-Alive: timeout` it sends lowers the Agent\'s to a second less than its own, so ' +
      'raise its idle timeout, or the load balancer\'s, where it is shorter.',
    poolSize: (needed, perPool) => `\`new ${agent}({ keepAlive: true, maxSockets: ${needed} })\` (it allows ${perPool} now; ` +
      '`maxSockets` counts per origin). An AWS SDK client builds its own Agent, which allows 50: ' +
      `\`requestHandler: new NodeHttpHandler({ ${module}Agent: new ${agent}({ keepAlive: true, maxSockets: ${needed} }) })\`, ` +
      `or \`requestHandler: { ${module}Agent: { maxSockets: ${needed} } }\`.`,
    poolFirstStep: (perPool) => perPool === 0 ? `Raise \`maxSockets\` on the \`${agent}\` (double it to start)`
      : `Raise \`maxSockets\` on the \`${agent}\` above ${perPool} (${perPool * 2} to start; an AWS SDK client's Agent ` +
        'allows 50, set through its `requestHandler`)',
    http2: undefined,
    connectErrors: 'ECONNREFUSED: nothing listens at that address and port; a timeout: the host is unreachable or overloaded; ' +
      `a certificate error: the client does not trust the server's certificate (\`ca\` on the \`${agent}\` or the request).`,
    lowReuse: `Turn keep-alive on: \`new ${agent}({ keepAlive: true })\`. An Agent built without it closes each socket ` +
      `as soon as no request waits for it (\`${module}.globalAgent\` has it on since Node 19). With it on, look for ` +
      '`Connection: close` from the server or the client, or a server that sends `Keep-Alive: timeout=0` or `timeout=1`, ' +
      'after which Node\'s Agents reuse nothing (a Node server sends those when its `keepAliveTimeout` is under 2 s).',
  };
}

const NODE_HTTP = nodeHttp(false);
const NODE_HTTPS = nodeHttp(true);

/** The changes for the kind of pool the figures were carried by; undici's where the sources do not tell. */
export function changesFor(figures: OriginFigures): Changes {
  if (figures.poolType !== 'http.Agent') return UNDICI;
  return figures.origin.startsWith('https://') ? NODE_HTTPS : NODE_HTTP;
}
