import diagnosticsChannel from 'node:diagnostics_channel';
import http from 'node:http';
import net from 'node:net';
import { Agent, request } from 'undici8';

/** Every channel a request through undici publishes on, so the recording holds all of it. */
export const ALL_CHANNELS = [
  'undici:request:create', 'undici:request:bodySent', 'undici:request:headers', 'undici:request:trailers',
  'undici:request:error', 'undici:request:bodyChunkSent', 'undici:request:bodyChunkReceived',
  'undici:client:beforeConnect', 'undici:client:connected', 'undici:client:connectError', 'undici:client:sendHeaders',
  // Node's own, published for every socket it connects: poolscope follows connect phases from it.
  'net.client.socket',
];

/**
 * Records what undici 8 publishes for two sequential GETs through one Agent to a loopback
 * server: the first opens a socket, the second reuses it. Returns the two event sequences.
 */
export async function recordLifecycles() {
  const events = [];
  const recorders = ALL_CHANNELS.map((name) => [name, (message) => events.push({ name, message })]);
  const server = http.createServer((incoming, response) => {
    incoming.resume();
    response.end('ok');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const agent = new Agent({ keepAliveTimeout: 10_000 });
  const url = `http://127.0.0.1:${server.address().port}/items/1?q=a`;
  for (const [name, recorder] of recorders) diagnosticsChannel.subscribe(name, recorder);
  try {
    for (let i = 0; i < 2; i++) {
      const response = await request(url, { dispatcher: agent, headers: { 'user-agent': 'poolscope-bench' } });
      await response.body.text();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    for (const [name, recorder] of recorders) diagnosticsChannel.unsubscribe(name, recorder);
    await agent.close();
    server.close();
  }
  const split = events.findIndex((event) => event.name === 'undici:request:trailers') + 1;
  const newConnection = events.slice(0, split);
  const keepAlive = events.slice(split);
  if (!newConnection.some((e) => e.name === 'undici:client:connected') || keepAlive.some((e) => e.name.startsWith('undici:client:before'))) {
    throw new Error('the recording did not show one new-connection and one keep-alive lifecycle');
  }
  const socket = newConnection.find((e) => e.name === 'undici:client:connected').message.socket;
  return { newConnection, keepAlive, socket };
}

/**
 * A recorded lifecycle made replayable: each step's channel, and a constructor compiled for
 * each message's fields, so a replay builds its objects as fast as undici builds its own.
 */
export function replayable(recorded) {
  const template = recorded.find((event) => event.message.request !== undefined)?.message.request;
  return {
    template,
    Request: template === undefined ? undefined : copier(template),
    steps: recorded.map(({ name, message }) => ({ channel: diagnosticsChannel.channel(name), message, build: builder(message) })),
  };
}

/** A constructor of undici Request look-alikes: same prototype, same fields in the same order. */
function copier(request) {
  const keys = Object.keys(request);
  const Copy = new Function('source', 'origin', keys.map((key) =>
    `this[${JSON.stringify(key)}] = ${key === 'origin' ? 'origin' : `source[${JSON.stringify(key)}]`};`).join('\n'));
  Copy.prototype = Object.getPrototypeOf(request);
  return Copy;
}

/** A function building a message like the recorded one, with this lifecycle's request, socket and connect parameters. */
function builder(message) {
  const fields = Object.keys(message).map((key) => {
    const own = { request: 'request', socket: 'socket', connectParams: 'connectParams' }[key];
    return `${JSON.stringify(key)}: ${own === undefined ? `recorded[${JSON.stringify(key)}]` : `${own} ?? recorded[${JSON.stringify(key)}]`}`;
  });
  return new Function('recorded', 'request', 'socket', 'connectParams', `return { ${fields.join(', ')} };`);
}

/**
 * Replays one lifecycle as undici publishes it: a new request object every time, and a message
 * built only for a channel that has subscribers. `origin`: `{ url, connectParams }` to replay
 * it against another origin; `close`: the socket closes at the end.
 */
export function replay(lifecycle, socket, origin, close) {
  const request = lifecycle.Request === undefined ? undefined
    : new lifecycle.Request(lifecycle.template, origin === undefined ? lifecycle.template.origin : origin.url);
  const connectParams = origin?.connectParams;
  const steps = lifecycle.steps;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    if (step.channel.hasSubscribers) step.channel.publish(step.build(step.message, request, socket, connectParams));
  }
  if (close) socket.emit('close', false);
}

/**
 * A socket object as undici's: a real, unconnected `net.Socket` (so `once('close')` is the real
 * one) carrying the recorded socket's symbol properties (undici's references to its client).
 */
export function newSocket(template) {
  const socket = new net.Socket();
  if (template !== undefined) {
    for (const symbol of Object.getOwnPropertySymbols(template)) {
      if (!(symbol in socket)) socket[symbol] = template[symbol];
    }
  }
  return socket;
}

/** The connect events of a recording alone, to open a socket before keep-alive lifecycles reuse it. */
export function connectEvents(recorded) {
  return recorded.filter((event) => event.name === 'undici:client:beforeConnect' || event.name === 'net.client.socket' ||
    event.name === 'undici:client:connected');
}
