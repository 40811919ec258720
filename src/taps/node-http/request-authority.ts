/**
 * The authority (`host`, `host:port`, `[v6]:port`) a node:http `ClientRequest` connects to, the
 * default port left out as in a Host header. A request has `protocol` and `host` but no port:
 * Node keeps the host and port it was given in a private `kAuthority` (24.20 and later, 26),
 * and writes them into the Host header unless the app set one of its own.
 */

/**
 * Node's `kAuthority` symbol, found once by its description on the first real request: null on a
 * Node without it, undefined until a request was seen (a made-up payload settles nothing).
 */
let authorityKey: symbol | null | undefined;

/**
 * The request's authority: Node's own record of it where Node keeps one, else its Host header
 * when that names the host the request connects to. Undefined when neither tells (a Host header
 * naming another host, as proxies and virtual hosting set, on a Node before 24.20).
 */
export function authorityOf(request: object, host: string): string | undefined {
  if (authorityKey === undefined) authorityKey = findAuthorityKey(request);
  if (authorityKey !== null && authorityKey !== undefined) {
    const authority = (request as Record<symbol, unknown>)[authorityKey];
    if (typeof authority === 'string') return authority;
  }
  const { getHeader } = request as { getHeader?: unknown };
  if (typeof getHeader !== 'function') return undefined;
  return hostHeaderAuthority((request as { getHeader(name: string): unknown }).getHeader('host'), host);
}

function findAuthorityKey(request: object): symbol | null | undefined {
  let outgoingMessage = false;
  for (const symbol of Object.getOwnPropertySymbols(request)) {
    if (symbol.description === 'kAuthority') return symbol;
    if (symbol.description === 'kOutHeaders') outgoingMessage = true;
  }
  return outgoingMessage ? null : undefined;
}

/**
 * A Host header as the authority of `host`: the header itself when it is `host` (`[host]` for
 * IPv6) with or without `:port`, else undefined. A header the app set to name another host, or
 * anything after the port, is not taken.
 */
export function hostHeaderAuthority(header: unknown, host: string): string | undefined {
  if (typeof header !== 'string' || host === '') return undefined;
  let end: number;
  if (header.charCodeAt(0) === 91 /* [ */) {
    if (!header.startsWith(host, 1) || header.charCodeAt(host.length + 1) !== 93 /* ] */) return undefined;
    end = host.length + 2;
  } else {
    // An IPv6 host is written in brackets: a header without them is one the app wrote.
    if (!header.startsWith(host) || host.includes(':')) return undefined;
    end = host.length;
  }
  if (header.length === end) return header;
  const digits = header.length - end - 1;
  if (header.charCodeAt(end) !== 58 /* : */ || digits < 1 || digits > 5) return undefined;
  for (let i = end + 1; i < header.length; i++) {
    const code = header.charCodeAt(i);
    if (code < 48 || code > 57) return undefined;
  }
  return header;
}
