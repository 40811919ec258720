// /metrics goes out a chunk at a time, each once the socket took the one before: a scraper that
// reads slowly gets the whole exposition, and one that hangs up mid-answer ends the writing,
// with nothing said to the app and the next scrape whole. How much a paused reader's kernel
// buffers hold is the system's to say (over loopback, here, all of a 1.3 MB exposition), so the
// pacing is checked at the writes themselves: none starts before the one before was taken.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, it } from 'node:test';
import { parseExposition } from '../dist/cli/report/exposition.js';
import { agentWithOrigins, rawScrape, scrape } from './helpers/agent.ts';
import { sleep } from './helpers/servers.ts';

/** Origins called, so that an exposition is some thirty chunks. */
const ORIGINS = 40;

const warnings: Error[] = [];
process.on('warning', (warning) => warnings.push(warning));

/** Chunks written to each response of poolscope's endpoint, the only server here that writes in chunks. */
const writes = new Map<http.ServerResponse, number>();
/** Writes made to each response while the one before had not been taken yet. */
const unpaced = new Map<http.ServerResponse, number>();
/** Responses with a write the socket has not taken yet (or one made without a callback). */
const awaiting = new Set<http.ServerResponse>();
/** Called once at the given write to a response: the scraper hangs up there. */
let hangUp: { atWrite: number; then: () => void } | undefined;
const write = http.ServerResponse.prototype.write;
http.ServerResponse.prototype.write = function (this: http.ServerResponse, ...args: unknown[]) {
  const count = (writes.get(this) ?? 0) + 1;
  writes.set(this, count);
  if (awaiting.has(this)) unpaced.set(this, (unpaced.get(this) ?? 0) + 1);
  awaiting.add(this);
  const taken = args.at(-1);
  // A write without a callback is never known taken: the next one counts as unpaced.
  if (typeof taken === 'function') {
    args[args.length - 1] = (...result: unknown[]) => {
      awaiting.delete(this);
      Reflect.apply(taken, undefined, result);
    };
  }
  const written = Reflect.apply(write, this, args) as boolean;
  if (hangUp !== undefined && count === hangUp.atWrite) {
    hangUp.then();
    hangUp = undefined;
  }
  return written;
} as typeof write;
after(() => {
  http.ServerResponse.prototype.write = write;
});

/** The response the endpoint is writing now. */
function lastResponse(): http.ServerResponse {
  return [...writes.keys()].at(-1)!;
}

const { agent, port } = await agentWithOrigins(ORIGINS, 3);
after(() => agent.shutdown());

/** The body of an HTTP/1.1 chunked response. */
function dechunked(raw: Buffer): string {
  const text = raw.toString('latin1');
  let at = text.indexOf('\r\n\r\n') + 4;
  const body: Buffer[] = [];
  for (;;) {
    const end = text.indexOf('\r\n', at);
    const size = Number.parseInt(text.slice(at, end), 16);
    if (size === 0) break;
    body.push(raw.subarray(end + 2, end + 2 + size));
    at = end + 2 + size + 2;
  }
  return Buffer.concat(body).toString('utf8');
}

it('a scraper that reads slowly gets the whole exposition', async () => {
  const whole = await scrape(agent.metricsUrl!);
  const chunks = writes.get(lastResponse())!;
  const socket = await rawScrape(port, 'pace-test');
  socket.pause();
  await sleep(300);
  const received: Buffer[] = [];
  socket.on('data', (data: Buffer) => received.push(data));
  socket.resume();
  await new Promise((resolve) => socket.once('close', resolve));
  const text = dechunked(Buffer.concat(received));
  const response = lastResponse();
  assert.equal(writes.get(response), chunks);
  assert.ok(chunks > 20, `${chunks} chunks`);
  assert.equal(unpaced.get(response) ?? 0, 0, 'writes made before the socket took the one before');
  // The same series as a scrape at full pace (values move: peaks are taken, ratios age).
  assert.deepEqual(series(text), series(whole));
  assert.ok(text.endsWith('\n'));
});

it('a scraper that hangs up mid-answer ends the writing; the app hears nothing and the next scrape is whole', async () => {
  const whole = await scrape(agent.metricsUrl!);
  const chunks = writes.get(lastResponse())!;
  assert.ok(chunks > 20, `${chunks} chunks`);
  const socket = await rawScrape(port, 'pace-test');
  const closed = new Promise((resolve) => socket.once('close', resolve));
  hangUp = { atWrite: 3, then: () => socket.destroy() };
  await closed;
  const response = lastResponse();
  if (!response.destroyed) await new Promise((resolve) => response.once('close', resolve));
  // Time for the writing to run on, were it going to.
  await sleep(200);
  assert.ok(writes.get(response)! < chunks / 2, `${writes.get(response)} of ${chunks} chunks written`);
  assert.deepEqual(warnings.filter((warning) => warning.name === 'PoolscopeWarning'), []);
  assert.deepEqual(series(await scrape(agent.metricsUrl!)), series(whole));
});

/** Each sample's name and labels, in order: the exposition's series. */
function series(exposition: string): string[] {
  return parseExposition(exposition).map(({ name, labels }) => `${name}${JSON.stringify(labels)}`);
}
