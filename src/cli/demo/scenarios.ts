import https from 'node:https';
import { Agent, request, type Dispatcher } from 'undici';

/** What a scenario is given: where the API is, how to trust it, and how many calls to make. */
export interface ScenarioContext {
  /** `https://127.0.0.1:PORT`, the scenario's own origin (its own latency proxy). */
  readonly origin: string;
  /** The API's certificate, trusted the way an app trusts a private CA. */
  readonly ca: string;
  readonly requests: number;
  /** poolscope's `instrument()`: lets the agent time a pool's queue from the app's dispatch. */
  readonly instrument: <D extends Dispatcher>(dispatcher: D) => D;
  /** Called after each finished call. */
  readonly done: () => void;
  /** The Anthropic SDK's client class, when the SDK is installed. */
  readonly anthropic: AnthropicClient | undefined;
}

/** What the demo uses of the Anthropic SDK: a client class and its streamed `messages.create()`. */
export type AnthropicClient = new (options: {
  apiKey: string;
  baseURL: string;
  maxRetries: number;
  fetchOptions: { dispatcher: Dispatcher };
}) => { messages: { create(body: object): Promise<AsyncIterable<{ type: string }>> } };

/** The Anthropic SDK's client class if the app has the SDK installed; the demo runs without it. */
export async function loadAnthropicSdk(): Promise<AnthropicClient | undefined> {
  const name = '@anthropic-ai/sdk';
  try {
    const sdk = (await import(name)) as { default?: unknown };
    return typeof sdk.default === 'function' ? sdk.default as AnthropicClient : undefined;
  } catch {
    return undefined;
  }
}

/** A pool a scenario leaves open for its figures to be read: closed afterwards. */
export interface Closable {
  close(): Promise<unknown> | void;
}

export interface Scenario {
  readonly name: string;
  /** The `poolscope.pool.type` its calls are counted under. */
  readonly poolType: 'undici' | 'http.Agent';
  /** One line for the terminal: what the client code does. */
  describe(withSdk: boolean): string;
  /** Runs the calls, bounded by `requests`; returns the pools to close once figures are read. */
  run(context: ScenarioContext): Promise<Closable[]>;
}

const MODEL = 'demo-model';
const PROMPT = [{ role: 'user', content: 'How much does a TLS handshake cost?' }];
/** Think time of a worker between two calls. */
const THINK_MS = 5;
const SHARED_POOL_WORKERS = 4;
const SMALL_POOL_STREAMS = 20;
const SMALL_POOL_CONNECTIONS = 2;
/** Keep-alive and gaps of the bursty scenario: undici's default 4 s with calls every 8 s, scaled down. */
const SHORT_KEEP_ALIVE_MS = 250;
const BURST_GAP_MS = 500;
const BURSTS = 5;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `workers` loops sharing `total` calls: at most `workers` in flight, never more than `total` made. */
async function inParallel(workers: number, total: number, call: () => Promise<void>): Promise<void> {
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < total) {
      started++;
      await call();
      await sleep(THINK_MS);
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, total) }, worker));
}

/** A non-streamed message through Node's built-in fetch, as most apps call an API. */
async function fetchMessage(context: ScenarioContext, dispatcher: Dispatcher): Promise<void> {
  const response = await fetch(`${context.origin}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'demo' },
    body: JSON.stringify({ model: MODEL, max_tokens: 64, messages: PROMPT }),
    // npm undici's Agent, typed apart from the undici types Node's fetch is declared with.
    dispatcher: dispatcher as unknown as NonNullable<RequestInit['dispatcher']>,
  });
  if (!response.ok) throw new Error(`the demo API answered ${response.status}`);
  await response.json();
  context.done();
}

/**
 * A non-streamed message through node:https, as axios, got and node-fetch send one with the Agent
 * given: the body read whole.
 */
function httpsMessage(context: ScenarioContext, agent: https.Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = https.request(`${context.origin}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'demo' },
      agent,
    }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('error', reject);
      response.on('end', () => {
        if (response.statusCode !== 200) return reject(new Error(`the demo API answered ${response.statusCode}`));
        if (!body.includes('"type":"message"')) return reject(new Error('the demo API answer ended early'));
        context.done();
        resolve();
      });
    });
    call.on('error', reject);
    call.end(JSON.stringify({ model: MODEL, max_tokens: 64, messages: PROMPT }));
  });
}

/** A streamed message through undici's `request()`, read event by event to the end. */
async function streamMessage(context: ScenarioContext, dispatcher: Dispatcher): Promise<void> {
  const { statusCode, body } = await request(`${context.origin}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': 'demo', accept: 'text/event-stream' },
    body: JSON.stringify({ model: MODEL, max_tokens: 64, messages: PROMPT, stream: true }),
    dispatcher,
  });
  if (statusCode !== 200) throw new Error(`the demo API answered ${statusCode}`);
  let events = '';
  for await (const chunk of body) events += chunk;
  if (!events.includes('event: message_stop')) throw new Error('the demo API stream ended early');
  context.done();
}

/** A streamed message through the Anthropic SDK, its events read to the end. */
async function sdkMessage(context: ScenarioContext, client: InstanceType<AnthropicClient>): Promise<void> {
  const stream = await client.messages.create({ model: MODEL, max_tokens: 64, messages: PROMPT, stream: true });
  let last = '';
  for await (const event of stream) last = event.type;
  if (last !== 'message_stop') throw new Error('the demo API stream ended early');
  context.done();
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'client-per-request',
    poolType: 'undici',
    describe: () => 'fetch() with a new undici Agent for every call: the anti-pattern',
    async run(context) {
      await inParallel(SHARED_POOL_WORKERS, context.requests, async () => {
        const agent = new Agent({ connect: { ca: context.ca } });
        try {
          await fetchMessage(context, agent);
        } finally {
          await agent.close();
        }
      });
      return [];
    },
  },
  {
    name: 'shared-pool',
    poolType: 'undici',
    describe: (withSdk) => `${SHARED_POOL_WORKERS} workers streaming through ${withSdk ? 'one Anthropic SDK client on ' : ''}` +
      `one shared Agent of ${SHARED_POOL_WORKERS} keep-alive connections`,
    async run(context) {
      const agent = new Agent({ connections: SHARED_POOL_WORKERS, keepAliveTimeout: 30_000, connect: { ca: context.ca } });
      const dispatcher = context.instrument(agent);
      if (context.anthropic !== undefined) {
        const client = new context.anthropic({ apiKey: 'demo', baseURL: context.origin, maxRetries: 0, fetchOptions: { dispatcher } });
        await inParallel(SHARED_POOL_WORKERS, context.requests, () => sdkMessage(context, client));
      } else {
        await inParallel(SHARED_POOL_WORKERS, context.requests, () => streamMessage(context, dispatcher));
      }
      return [agent];
    },
  },
  {
    name: 'short-keepalive',
    poolType: 'undici',
    describe: () => `${BURSTS} bursts ${BURST_GAP_MS} ms apart through an Agent whose keepAliveTimeout is ${SHORT_KEEP_ALIVE_MS} ms`,
    async run(context) {
      const agent = new Agent({ keepAliveTimeout: SHORT_KEEP_ALIVE_MS, connect: { ca: context.ca } });
      const dispatcher = context.instrument(agent);
      const perBurst = Math.ceil(context.requests / BURSTS);
      for (let burst = 0, made = 0; burst < BURSTS && made < context.requests; burst++) {
        if (burst > 0) await sleep(BURST_GAP_MS);
        const calls = Math.min(perBurst, context.requests - made);
        await inParallel(SHARED_POOL_WORKERS, calls, () => streamMessage(context, dispatcher));
        made += calls;
      }
      return [agent];
    },
  },
  {
    name: 'small-pool',
    poolType: 'undici',
    describe: () => `${SMALL_POOL_STREAMS} concurrent streams through a pool of ${SMALL_POOL_CONNECTIONS} connections`,
    async run(context) {
      const agent = new Agent({ connections: SMALL_POOL_CONNECTIONS, connect: { ca: context.ca } });
      const dispatcher = context.instrument(agent);
      await inParallel(SMALL_POOL_STREAMS, context.requests, () => streamMessage(context, dispatcher));
      return [agent];
    },
  },
  {
    name: 'https-agent-per-request',
    poolType: 'http.Agent',
    describe: () => 'https.request() with a new https.Agent for every call, as code that hands axios or got a new Agent per call does',
    async run(context) {
      // Node's Agent defaults: no keep-alive, so each socket closes after its response.
      await inParallel(SHARED_POOL_WORKERS, context.requests, () => httpsMessage(context, new https.Agent({ ca: context.ca })));
      return [];
    },
  },
];
