import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface LatencyProxy {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 that makes loopback behave like a network `rttMs` long: every chunk,
 * and the end of each stream, reaches the other side half a round trip later, in order.
 * A loopback connect completes at once, so the first bytes of each connection wait one more
 * round trip, the one a TCP handshake costs on a real network. A TLS 1.3 handshake through it
 * then costs two round trips in all (TCP + TLS), as it does across a real network.
 */
export async function startLatencyProxy(targetPort: number, rttMs: number): Promise<LatencyProxy> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true });
    track(client);
    track(upstream);
    const halfTrip = rttMs / 2;
    forward(client, upstream, halfTrip, rttMs);
    forward(upstream, client, halfTrip, 0);
    const destroyBoth = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.once('error', destroyBoth);
    upstream.once('error', destroyBoth);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    }),
  };
}

/** Copies `from` to `to`, each chunk `delayMs` late, the first one `firstExtraMs` later still. */
function forward(from: Socket, to: Socket, delayMs: number, firstExtraMs: number): void {
  const queue: Array<{ readonly due: number; readonly chunk: Buffer | null }> = [];
  let timer: NodeJS.Timeout | undefined;
  let lastDue = 0;
  let extra = firstExtraMs;

  const flush = (): void => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && queue[0]!.due <= now) {
      const { chunk } = queue.shift()!;
      if (to.destroyed) return;
      if (chunk === null) to.end();
      else to.write(chunk);
    }
    schedule();
  };
  const schedule = (): void => {
    if (timer !== undefined || queue.length === 0) return;
    timer = setTimeout(flush, Math.max(0, queue[0]!.due - performance.now()));
  };
  const enqueue = (chunk: Buffer | null): void => {
    // Never before the chunk ahead of it: a stream's bytes keep their order.
    lastDue = Math.max(lastDue, performance.now() + delayMs + extra);
    extra = 0;
    queue.push({ due: lastDue, chunk });
    schedule();
  };
  from.on('data', (chunk: Buffer) => enqueue(chunk));
  from.on('end', () => enqueue(null));
  from.once('close', () => {
    if (timer !== undefined && to.destroyed) clearTimeout(timer);
  });
}
