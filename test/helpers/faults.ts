// Servers and routes that fail in the ways production servers do, each counting what it saw.
import type http from 'node:http';
import net from 'node:net';
import type { LookupFunction } from 'node:net';
import { after } from 'node:test';
import type { Handler } from './servers.ts';

/**
 * Answers by path, so one server (one origin, one set of ground truth) can carry a mix of faults:
 * - `/ok`: 200 `ok`;
 * - `/slow-headers`: headers after 400 ms (for aborts before headers and `headersTimeout`);
 * - `/stall-body`: headers and a first chunk, the rest after 400 ms (aborts mid-body, `bodyTimeout`);
 * - `/reset-mid`: headers and a first chunk, then a TCP reset;
 * - `/reset-on-reuse`: like `/ok` on a socket's first request; on a reused socket, a reset as
 *   soon as the request arrives, as when a server drops an idle keep-alive socket just as the
 *   client writes to it (the ECONNRESET race, made deterministic);
 * - `/big`: 1 MiB, more than a client buffers, for bodies never read;
 * - `/redirect`: 302 to `/ok`.
 * With `?hang` in the query, the slow routes wait 10 s instead of 400 ms, for client timeouts.
 */
export const faultyHandler: Handler = (request, response) => {
  request.resume();
  const [path = '', query = ''] = request.url?.split('?') ?? [];
  const delay = query.includes('hang') ? 10_000 : 400;
  const { socket } = request;
  const later = (ms: number, action: () => void) => {
    const timer = setTimeout(action, ms);
    response.on('close', () => clearTimeout(timer));
  };
  switch (path) {
    case '/slow-headers':
      later(delay, () => response.end('late'));
      break;
    case '/stall-body':
      response.writeHead(200, { 'content-length': '8' });
      response.write('half');
      later(delay, () => response.end('done'));
      break;
    case '/reset-mid':
      response.writeHead(200, { 'content-length': '8' });
      response.write('half', () => socket.resetAndDestroy());
      break;
    case '/reset-on-reuse':
      if (requestsOn(socket) > 1) socket.resetAndDestroy();
      else response.end('ok');
      break;
    case '/big':
      response.end(Buffer.alloc(1 << 20, 120));
      break;
    case '/redirect':
      response.writeHead(302, { location: '/ok' });
      response.end();
      break;
    default:
      response.end('ok');
  }
};

const requestCounts = new WeakMap<net.Socket, number>();
function requestsOn(socket: net.Socket): number {
  const count = (requestCounts.get(socket) ?? 0) + 1;
  requestCounts.set(socket, count);
  return count;
}

/** Answers an upgrade with 101 and a CONNECT with 200, then echoes until the client closes. */
export function tunnel(request: http.IncomingMessage, socket: net.Socket): void {
  socket.on('error', () => {});
  if (request.method === 'CONNECT') socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  else socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n');
  socket.pipe(socket);
}

export interface SilentServer {
  readonly port: number;
  /** TCP connections accepted. */
  readonly accepted: () => number;
  /** TCP connections still open. */
  readonly open: () => number;
}

/** A TCP server that accepts and never says a word: a TLS handshake to it never completes. */
export async function startSilentServer(): Promise<SilentServer> {
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    // Read (and drop) the client hello, so that the client's close is seen.
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy();
    server.close(() => resolve());
  }));
  return { port: (server.address() as net.AddressInfo).port, accepted: () => accepted, open: () => sockets.size };
}

/** Resolves every name to 127.0.0.1 after `delayMs`, or fails as a resolver would: no DNS traffic. */
export function loopbackLookup(delayMs = 0, failWith?: string): LookupFunction {
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    setTimeout(() => {
      if (failWith !== undefined) {
        callback(Object.assign(new Error(`getaddrinfo ${failWith} ${hostname}`), { code: failWith, hostname }));
      } else if (options.all) {
        callback(null, [{ address: '127.0.0.1', family: 4 }]);
      } else {
        callback(null, '127.0.0.1', 4);
      }
    }, delayMs);
  }) as unknown as LookupFunction;
}
