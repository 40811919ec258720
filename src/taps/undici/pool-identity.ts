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
  if (client !== undefined) return firstConnectListener(client) ?? client;
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

/**
 * The first `connect` listener of an EventEmitter. Read from its `_events` object, which every
 * Node EventEmitter has had since the start and which libraries read the same way: `listeners()`
 * copies the list, ~1.3 µs a socket when the caches are cold (bench/replay.mjs). `listeners()`
 * stays the fallback for an emitter without it.
 */
function firstConnectListener(emitter: object): object | undefined {
  const events = (emitter as { _events?: unknown })._events;
  let onConnect: unknown;
  if (typeof events === 'object' && events !== null) {
    onConnect = (events as { connect?: unknown }).connect;
  } else {
    const listeners = (emitter as { listeners?: unknown }).listeners;
    if (typeof listeners === 'function') onConnect = Reflect.apply(listeners, emitter, ['connect']);
  }
  if (Array.isArray(onConnect)) onConnect = onConnect[0];
  return typeof onConnect === 'function' ? onConnect : undefined;
}
