/**
 * The benchmarks' server, run as a child process (pinned to its own core where `taskset`
 * exists) so its work never counts as the client's. The parent sends
 * `{ type: 'listen', h1: [{ host, port }], h2: [{ host, port }] }` (port 0: any free one) and
 * gets the bound addresses back; every listener answers `ok`. HTTP/2 is over TLS with a
 * certificate made here. `{ type: 'truth' }` answers with what the server saw.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { generate } from 'selfsigned';

const truth = { connections: 0, requests: 0 };
const sockets = new Set();

function track(socket) {
  truth.connections++;
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
}

const h1Server = http.createServer({ keepAliveTimeout: 60_000 }, (request, response) => {
  truth.requests++;
  request.resume();
  // `?close` asks for a socket the server closes after answering.
  if (request.url.endsWith('?close')) response.setHeader('connection', 'close');
  response.end('ok');
});
h1Server.keepAliveTimeout = 60_000;

let h2Server;
async function h2() {
  if (h2Server !== undefined) return h2Server;
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], { keySize: 2048, algorithm: 'sha256' });
  h2Server = http2.createSecureServer({ key: pems.private, cert: pems.cert, allowHTTP1: false });
  h2Server.on('stream', (stream) => {
    truth.requests++;
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  h2Server.on('sessionError', () => {});
  return h2Server;
}

/** A plain listener that hands its connections to the shared server, so one server serves many addresses. */
function listen(server, host, port) {
  return new Promise((resolve) => {
    const listener = net.createServer((socket) => {
      track(socket);
      server.emit('connection', socket);
    });
    listener.once('error', (error) => resolve({ host, port, error: error.code ?? String(error) }));
    listener.listen({ host, port, backlog: 4096 }, () => resolve({ host, port: listener.address().port }));
  });
}

process.on('message', async (message) => {
  if (message.type === 'listen') {
    const h1 = [];
    for (const { host, port } of message.h1 ?? []) h1.push(await listen(h1Server, host, port));
    const h2Listeners = [];
    for (const { host, port } of message.h2 ?? []) h2Listeners.push(await listen(await h2(), host, port));
    process.send({ type: 'listening', h1, h2: h2Listeners });
  } else if (message.type === 'truth') {
    process.send({ type: 'truth', ...truth });
  }
});
// The parent's end is this server's end: no listener outlives the benchmark.
process.on('disconnect', () => {
  for (const socket of sockets) socket.destroy();
  process.exit(0);
});
process.send({ type: 'ready' });
