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

/**
 * The `Symbol(client)` keys seen so far: one per copy of undici in the process, so a socket is
 * read with one property load instead of a walk over its thirty-odd symbols.
 */
const clientSymbols: symbol[] = [];
const MAX_CLIENT_SYMBOLS = 8;

function clientOf(socket: object): object | undefined {
  for (const symbol of clientSymbols) {
    const client = asClient(Reflect.get(socket, symbol));
    if (client !== undefined) return client;
  }
  for (const symbol of Object.getOwnPropertySymbols(socket)) {
    if (symbol.description !== 'client' || clientSymbols.includes(symbol)) continue;
    const client = asClient(Reflect.get(socket, symbol));
    if (client === undefined) continue;
    if (clientSymbols.length < MAX_CLIENT_SYMBOLS) clientSymbols.push(symbol);
    return client;
  }
  return undefined;
}

function asClient(value: unknown): object | undefined {
  return typeof value === 'object' && value !== null && typeof (value as { dispatch?: unknown }).dispatch === 'function' ? value : undefined;
}
