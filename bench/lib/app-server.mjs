import net from 'node:net';

/**
 * A listening socket in the client's process, in every mode, as the services poolscope runs in
 * have. Node's HTTP/2 client costs ~14,000 more user-space instructions per request (+3%) in a
 * process that listens on any port than in one that listens on none, and the first listening
 * socket would otherwise be poolscope's `/metrics`, charging that to poolscope (HTTP/1.1: +0.3%).
 */
export async function listenLikeAService() {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  server.unref();
  return server;
}
