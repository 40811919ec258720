import { getHeapSpaceStatistics } from 'node:v8';
import { start } from '../../dist/index.js';
import { heapCensus } from './heap-census.mjs';
import { loopbackAddress, PORTS_PER_ADDRESS } from './loopback-origins.mjs';
import { connectEvents, newSocket, recordLifecycles, replay, replayable } from './recording.mjs';

/**
 * What is measured at a checkpoint: memory after two full GCs, and the memory V8 holds for its
 * old and young generations. What stays lives in the old one; the young one grows under a high
 * allocation rate to V8's maximum, and that growth is most of RSS's.
 */
export function memoryNow(extra) {
  globalThis.gc();
  globalThis.gc();
  const { heapUsed, heapTotal, rss, external, arrayBuffers } = process.memoryUsage();
  const spaces = getHeapSpaceStatistics();
  const committed = (name) => spaces.find((space) => space.space_name === name)?.space_size ?? NaN;
  return { ...extra, heapUsed, heapTotal, rss, external, arrayBuffers, oldSpace: committed('old_space'), newSpace: committed('new_space') };
}

/** The objects poolscope keeps: one origin record each, and per-request and per-socket records. */
export const CENSUS = {
  byName: { originRecords: 'OriginStats', protocolRecords: 'ProtocolConnections', histograms: 'BucketHistogram' },
  byProperty: { requestRecords: ['firstByteSeen', 'startedAt'], socketRecords: ['inFlight', 'idleSince'] },
};

/** The replay part of the memory soak, in a process of its own; prints its JSON result. */
export async function soakReplay(options) {
  const recording = await recordLifecycles();
  const connect = replayable(connectEvents(recording.newConnection));
  const keepAlive = replayable(recording.keepAlive);
  const recordedParams = recording.newConnection.find((e) => e.name === 'undici:client:connected').message.connectParams;
  const origins = Array.from({ length: options.origins }, (_, i) => {
    const hostname = loopbackAddress(i);
    const port = 20_000 + (i % PORTS_PER_ADDRESS);
    return {
      url: `http://${hostname}:${port}`,
      connectParams: { ...recordedParams, protocol: 'http:', hostname, host: `${hostname}:${port}`, port: String(port) },
    };
  });
  const agent = options.mode === 'poolscope' ? await start({ host: '127.0.0.1', port: 0, maxOrigins: options.maxOrigins }) : undefined;
  const checkpoints = [memoryNow({ requests: 0 })];
  const every = Math.ceil(options.requests / options.checkpoints);
  let sent = 0;
  let socketIndex = 0;
  let scrapeBytes = 0;
  while (sent < options.requests) {
    // One socket to the next origin, a few requests on it, then its close.
    const origin = origins[socketIndex++ % origins.length];
    const socket = newSocket(recording.socket);
    replay(connect, socket, origin);
    const onThisSocket = Math.min(options.perSocket, options.requests - sent);
    for (let i = 0; i < onThisSocket; i++) replay(keepAlive, socket, origin);
    socket.emit('close', false);
    const before = sent;
    sent += onThisSocket;
    if (Math.floor(sent / every) > Math.floor(before / every) || sent === options.requests) {
      // Prometheus scrapes now and then; its output is part of what must stay bounded.
      if (agent !== undefined) scrapeBytes = (await (await fetch(agent.metricsUrl)).text()).length;
      await new Promise((resolve) => setImmediate(resolve));
      checkpoints.push(memoryNow({ requests: sent }));
    }
  }
  const census = agent === undefined ? {} : await heapCensus(CENSUS);
  const origin = agent?.snapshot() ?? [];
  await agent?.shutdown();
  process.stdout.write(JSON.stringify({
    mode: options.mode, checkpoints, census, scrapeBytes, sockets: socketIndex,
    tracked: origin.length, counted: origin.reduce((sum, o) => sum + o.requests, 0),
  }));
}
