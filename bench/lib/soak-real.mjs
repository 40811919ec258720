import { Agent, request } from 'undici8';
import { start } from '../../dist/index.js';
import { loopbackAddress, PORTS_PER_ADDRESS } from './loopback-origins.mjs';
import { pinSelf, startServerProcess } from './processes.mjs';
import { memoryNow } from './soak-replay.mjs';

/** The real-traffic part of the memory soak, in a process of its own; prints its JSON result. */
export async function soakReal(options) {
  pinSelf(0);
  // A process holds at most 20,000 descriptors here: a server process per 5,000 listeners.
  const servers = await Promise.all(Array.from({ length: Math.ceil(options.realOrigins / 5_000) }, () => startServerProcess(1)));
  try {
    // Four free ports on the first address, then the same four on every other address.
    const first = await servers[0].request({ type: 'listen', h1: Array.from({ length: PORTS_PER_ADDRESS }, () => ({ host: loopbackAddress(0), port: 0 })) });
    const ports = first.h1.map((l) => l.port);
    const rest = Array.from(servers, () => []);
    for (let i = PORTS_PER_ADDRESS; i < options.realOrigins; i++) {
      rest[Math.floor(i / 5_000)].push({ host: loopbackAddress(i), port: ports[i % PORTS_PER_ADDRESS] });
    }
    const more = await Promise.all(servers.map((server, i) => server.request({ type: 'listen', h1: rest[i] })));
    const listening = [...first.h1, ...more.flatMap((m) => m.h1)].filter((l) => l.error === undefined);
    const origins = listening.map((l) => `http://${l.host}:${l.port}`);

    const agent = options.mode === 'poolscope' ? await start({ host: '127.0.0.1', port: 0, maxOrigins: options.maxOrigins }) : undefined;
    const dispatcher = new Agent({ keepAliveTimeout: 1_000, connections: 1 });
    const checkpoints = [memoryNow({ requests: 0 })];
    let sent = 0;
    const visit = async (origin) => {
      for (let i = 0; i < options.realRequests; i++) {
        await (await request(`${origin}/r${i}`, { dispatcher })).body.text();
        sent++;
        // A gap so the pool hears its socket is free, and the next request reuses it.
        if (i === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
    };
    const step = Math.ceil(origins.length / options.checkpoints);
    const deadline = performance.now() + 300_000;
    for (let i = 0; i < origins.length && performance.now() < deadline; i += step) {
      const slice = origins.slice(i, i + step);
      for (let j = 0; j < slice.length; j += 32) await Promise.all(slice.slice(j, j + 32).map(visit));
      checkpoints.push(memoryNow({ requests: sent }));
    }
    await dispatcher.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    checkpoints.push(memoryNow({ requests: sent, closed: true }));
    const truths = await Promise.all(servers.map((server) => server.request({ type: 'truth' })));
    const truth = { requests: truths.reduce((sum, t) => sum + t.requests, 0), connections: truths.reduce((sum, t) => sum + t.connections, 0) };
    const snapshot = agent?.snapshot() ?? [];
    const counted = {
      requests: snapshot.reduce((sum, o) => sum + o.requests, 0),
      opened: snapshot.reduce((sum, o) => sum + o.connectionsOpened, 0),
      open: snapshot.reduce((sum, o) => sum + o.openConnections.active + o.openConnections.idle, 0),
    };
    await agent?.shutdown();
    process.stdout.write(JSON.stringify({
      mode: options.mode, origins: origins.length, requests: sent, checkpoints, tracked: snapshot.length, counted,
      truth: { requests: truth.requests, connections: truth.connections },
    }));
  } finally {
    await Promise.all(servers.map((server) => server.close()));
  }
}
