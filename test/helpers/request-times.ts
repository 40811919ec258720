import diagnosticsChannel from 'node:diagnostics_channel';

interface RequestMessage { readonly request?: { readonly path?: unknown } }

/**
 * When undici wrote each request's headers and got each response's, by request path, read on
 * its own channels: the bounds a test puts on what poolscope measured between them, from this
 * run's own clock. Subscribed after poolscope's, each time is at or after poolscope's reading.
 */
export interface RequestTimes {
  /** `performance.now()` when the headers of the request for `path` were written; fails if they were not. */
  sentAt(path: string): number;
  /** `performance.now()` when the response to the request for `path` began; fails if it did not. */
  answeredAt(path: string): number;
  /** Stops recording. */
  stop(): void;
}

/** Starts recording; call it once poolscope has started, so that its handlers run first. */
export function recordRequestTimes(): RequestTimes {
  const sent = new Map<string, number>();
  const answered = new Map<string, number>();
  const recorder = (into: Map<string, number>) => (message: unknown) => {
    const path = (message as RequestMessage).request?.path;
    if (typeof path === 'string' && !into.has(path)) into.set(path, performance.now());
  };
  const subscriptions: Array<[string, diagnosticsChannel.ChannelListener]> = [
    ['undici:client:sendHeaders', recorder(sent)],
    ['undici:request:headers', recorder(answered)],
  ];
  for (const [name, listener] of subscriptions) diagnosticsChannel.subscribe(name, listener);
  const read = (from: Map<string, number>, what: string) => (path: string) => {
    const at = from.get(path);
    if (at === undefined) throw new Error(`undici published no ${what} for ${path}`);
    return at;
  };
  return {
    sentAt: read(sent, 'sendHeaders'),
    answeredAt: read(answered, 'response headers'),
    stop() {
      for (const [name, listener] of subscriptions) diagnosticsChannel.unsubscribe(name, listener);
    },
  };
}
