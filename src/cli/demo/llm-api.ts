import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Certificate } from './certificate.js';

/** How the demo API answers: like an LLM API, scaled down so the demo runs in seconds. */
export interface LlmApiOptions {
  readonly certificate: Certificate;
  /** Milliseconds from the request to the first token. */
  readonly timeToFirstTokenMs: number;
  /** Tokens in each answer. */
  readonly tokens: number;
  /** Milliseconds between tokens. */
  readonly tokenIntervalMs: number;
}

export interface LlmApi {
  readonly port: number;
  close(): Promise<void>;
}

const WORDS = ['Connection', ' reuse', ' saves', ' a', ' handshake', ' on', ' every', ' call', '.'];

/**
 * An HTTPS API on 127.0.0.1 that answers `POST /v1/messages` the way the Anthropic Messages API
 * does: a JSON message once the whole answer is generated, or, with `"stream": true`, response
 * headers at once and then server-sent events, the first token after the time to first token.
 * It sends no Keep-Alive header and never closes an idle connection itself, as most API
 * front ends do for minutes: how long a connection lives is the client's keep-alive.
 */
export async function startLlmApi(options: LlmApiOptions): Promise<LlmApi> {
  /** Numbers the messages' ids. */
  let requests = 0;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, run: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, ms);
    timers.add(timer);
  };

  const server = createServer({ key: options.certificate.key, cert: options.certificate.cert }, (request, response) => {
    requests++;
    readJson(request).then(
      (body) => answer(body, response),
      () => reply(response, 400, { type: 'error', error: { type: 'invalid_request_error', message: 'the body is not JSON' } }),
    );
  });
  server.keepAliveTimeout = 0;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', () => {});

  function answer(body: Record<string, unknown>, response: ServerResponse): void {
    const tokens = typeof body.max_tokens === 'number' ? Math.min(body.max_tokens, options.tokens) : options.tokens;
    const model = typeof body.model === 'string' ? body.model : 'demo-model';
    const id = `msg_${requests}`;
    const text = Array.from({ length: tokens }, (_, i) => WORDS[i % WORDS.length]!);
    if (body.stream !== true) {
      later(options.timeToFirstTokenMs + tokens * options.tokenIntervalMs, () => reply(response, 200, {
        id, type: 'message', role: 'assistant', model,
        content: [{ type: 'text', text: text.join('') }],
        stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: 12, output_tokens: tokens },
      }));
      return;
    }
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const event = (type: string, data: object): void => {
      if (!response.destroyed) response.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    };
    event('message_start', {
      message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, usage: { input_tokens: 12, output_tokens: 0 } },
    });
    event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
    const next = (i: number): void => {
      if (i < text.length) {
        event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: text[i] } });
        later(options.tokenIntervalMs, () => next(i + 1));
        return;
      }
      event('content_block_stop', { index: 0 });
      event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: tokens } });
      event('message_stop', {});
      response.end();
    };
    later(options.timeToFirstTokenMs, () => next(0));
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      for (const timer of timers) clearTimeout(timer);
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    }),
  };
}

const MAX_BODY_BYTES = 1 << 20;

function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > MAX_BODY_BYTES) request.destroy();
    });
    request.on('error', reject);
    request.on('end', () => {
      try {
        const parsed: unknown = JSON.parse(body === '' ? '{}' : body);
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) resolve(parsed as Record<string, unknown>);
        else reject(new Error('not an object'));
      } catch (error) {
        reject(error);
      }
    });
  });
}

function reply(response: ServerResponse, status: number, body: object): void {
  if (response.destroyed) return;
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}
