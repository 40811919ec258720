/**
 * Which dispatcher (Pool, or Client used alone) a socket belongs to. undici's events carry no
 * reference to it, so it is found through undici internals, each step checked: the socket's
 * `Symbol(client)` property is its Client, and a Pool subscribes one `connect` listener of its
 * own to each of its Clients (seen on undici 6.24, 7.29 and 8.12). When a step fails the
 * connector stands in: one per Pool before undici 7.23, one per Client since. Without either,
 * undefined: the socket's pool is unknown, and nothing is thrown.
 */
export function poolOf(socket: object, connector: unknown): object | undefined {
  const client = clientOf(socket);
  if (client !== undefined) {
    const listeners = (client as { listeners?: unknown }).listeners;
    if (typeof listeners === 'function') {
      const onConnect: unknown = Reflect.apply(listeners, client, ['connect']);
      if (Array.isArray(onConnect) && typeof onConnect[0] === 'function') return onConnect[0] as object;
    }
    return client;
  }
  return typeof connector === 'object' || typeof connector === 'function' ? connector ?? undefined : undefined;
}

function clientOf(socket: object): object | undefined {
  for (const symbol of Object.getOwnPropertySymbols(socket)) {
    if (symbol.description !== 'client') continue;
    const client: unknown = Reflect.get(socket, symbol);
    if (typeof client === 'object' && client !== null && typeof (client as { dispatch?: unknown }).dispatch === 'function') return client;
  }
  return undefined;
}
