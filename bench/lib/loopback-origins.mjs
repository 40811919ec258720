/** Ports per loopback address: 10,000 origins take 2,500 addresses. */
export const PORTS_PER_ADDRESS = 4;

/** The loopback address of origin `i`: 127.0.1.1, 127.0.1.2, ... four origins (ports) each. */
export function loopbackAddress(i) {
  const address = Math.floor(i / PORTS_PER_ADDRESS);
  return `127.0.${1 + Math.floor(address / 250)}.${1 + (address % 250)}`;
}
