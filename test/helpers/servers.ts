import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { after } from 'node:test';
import { generate } from 'selfsigned';

/** Every server a test started, closed when the file ends even if a test failed first. */
const running = new Set<TestServer>();
after(() => Promise.all(Array.from(running, (server) => server.close())));

/** What a test server itself saw: the ground truth poolscope's figures must equal. */
export interface ServerTruth {
  /** TCP connections accepted. */
  connections: number;
  /** TLS handshakes completed (https only). */
  tlsHandshakes: number;
  /** Requests whose headers arrived. */
  requests: number;
  /** Connections that carried at least one request. */
  connectionsWithRequests: number;
  /** Connections open now. */
  open: number;
}

export interface TestServer {
  readonly origin: string;
  readonly truth: ServerTruth;
  readonly port: number;
  close(): Promise<void>;
}

export type Handler = (request: http.IncomingMessage, response: http.ServerResponse) => void;

export interface ServerOptions {
  tls?: { key: string; cert: string };
  keepAliveTimeout?: number;
  /** Destroy a socket once it has been idle this long, without telling the client a keep-alive timeout. */
  closeIdleAfterMs?: number;
  handler?: Handler;
  /** Takes over upgrade and CONNECT requests, which then count as requests too. */
  tunnel?: (request: http.IncomingMessage, socket: Socket) => void;
}

/** Answers 200 with a short body once the request body has been read. */
export const okHandler: Handler = (request, response) => {
  request.resume();
  request.on('end', () => response.end('ok'));
};

/** An HTTP/1.1 (or HTTPS) server on 127.0.0.1 that counts what it sees. */
export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const truth: ServerTruth = { connections: 0, tlsHandshakes: 0, requests: 0, connectionsWithRequests: 0, open: 0 };
  const withRequests = new WeakSet<Socket>();
  const sockets = new Set<Socket>();
  const handler = options.handler ?? okHandler;
  const idleTimers = new WeakMap<Socket, NodeJS.Timeout>();
  const countRequest = (socket: Socket): void => {
    truth.requests++;
    if (!withRequests.has(socket)) {
      withRequests.add(socket);
      truth.connectionsWithRequests++;
    }
  };
  const onRequest: Handler = (request, response) => {
    const { socket } = request;
    if (options.closeIdleAfterMs !== undefined) {
      // Node's own keep-alive timer would tell the client; this one closes without a word.
      clearTimeout(idleTimers.get(socket));
      response.on('finish', () => idleTimers.set(socket, setTimeout(() => socket.destroy(), options.closeIdleAfterMs)));
    }
    countRequest(socket);
    handler(request, response);
  };
  const server = options.tls
    ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, onRequest)
    : http.createServer(onRequest);
  if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout;
  server.on('connection', (socket: Socket) => {
    truth.connections++;
    truth.open++;
    sockets.add(socket);
    socket.on('close', () => {
      truth.open--;
      sockets.delete(socket);
    });
  });
  server.on('secureConnection', () => truth.tlsHandshakes++);
  const { tunnel } = options;
  if (tunnel !== undefined) {
    const onTunnel = (request: http.IncomingMessage, socket: Socket) => {
      countRequest(socket);
      tunnel(request, socket);
    };
    server.on('upgrade', onTunnel);
    server.on('connect', onTunnel);
  }
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const testServer: TestServer = {
    origin: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    truth,
    port,
    close: () => new Promise<void>((resolve) => {
      running.delete(testServer);
      if (!server.listening) return resolve();
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    }),
  };
  running.add(testServer);
  return testServer;
}

let certificate: Promise<{ key: string; cert: string }> | undefined;

/** A self-signed certificate for 127.0.0.1 and localhost, made once per test process. */
export function testCertificate(): Promise<{ key: string; cert: string }> {
  certificate ??= generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] }],
  } as Parameters<typeof generate>[1]).then((pems) => ({ key: pems.private, cert: pems.cert }));
  return certificate;
}

const closedPortsGiven = new Set<number>();

/** A port on 127.0.0.1 where nothing listens. */
export async function closedPort(): Promise<number> {
  // A port handed out before in this process is not handed out again: the kernel may give a
  // freed port to the next listener, and two tests would then count into one origin's figures.
  for (let attempt = 0; ; attempt++) {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (!closedPortsGiven.has(port) || attempt >= 100) {
      closedPortsGiven.add(port);
      return port;
    }
  }
}

/** Retries an assertion until it holds, for figures that settle when sockets finish closing. */
export async function eventually(assertion: () => void | Promise<void>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
