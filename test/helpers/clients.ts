import { keepNodeGlobalDispatcher } from '../../bench/lib/node-global-dispatcher.mjs';
import * as undici7 from 'undici7';
import * as undici8 from 'undici8';

keepNodeGlobalDispatcher();

/** One way an app makes HTTP requests; each owns its pool so tests do not share sockets. */
export interface Client {
  readonly name: string;
  request(url: string, init?: { method?: string; body?: string; signal?: AbortSignal; headers?: Record<string, string> }): Promise<{ status: number; body: string }>;
  /** Closes the client's pool; the global one of built-in fetch cannot be, so its sockets stay until the server closes them. */
  close(): Promise<void>;
}

type AgentOptions = { keepAliveTimeout?: number; connections?: number; connect?: Record<string, unknown> };

function undiciRequestClient(name: string, lib: typeof undici7 | typeof undici8, options: AgentOptions): Client {
  const dispatcher = new lib.Agent(options as never);
  return {
    name,
    async request(url, init = {}) {
      const response = await lib.request(url, { dispatcher, method: (init.method ?? 'GET') as 'GET', body: init.body ?? null, signal: init.signal ?? null, headers: init.headers ?? {} } as never);
      return { status: response.statusCode, body: await response.body.text() };
    },
    close: closeOnce(dispatcher),
  };
}

function undiciFetchClient(name: string, lib: typeof undici7 | typeof undici8, options: AgentOptions): Client {
  const dispatcher = new lib.Agent(options as never);
  return {
    name,
    async request(url, init = {}) {
      const response = await lib.fetch(url, { ...init, dispatcher } as never);
      return { status: response.status, body: await response.text() };
    },
    close: closeOnce(dispatcher),
  };
}

function closeOnce(dispatcher: { close(): Promise<void> }): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => (closing ??= dispatcher.close());
}

const builtinFetch: Client = {
  name: 'built-in fetch',
  async request(url, init = {}) {
    const response = await fetch(url, init);
    return { status: response.status, body: await response.text() };
  },
  close: async () => {},
};

/** Every client flavour the suite runs against: Node's fetch, and undici 7 and 8 from npm. */
export function clients(options: AgentOptions = {}): Client[] {
  return [
    builtinFetch,
    undiciRequestClient('undici 7 request()', undici7, options),
    undiciFetchClient('undici 7 fetch()', undici7, options),
    undiciRequestClient('undici 8 request()', undici8, options),
    undiciFetchClient('undici 8 fetch()', undici8, options),
  ];
}

export { undici7, undici8 };
