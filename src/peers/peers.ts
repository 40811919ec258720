import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import diagnosticsChannel from 'node:diagnostics_channel';
import { BroadcastChannel, type Worker } from 'node:worker_threads';
import { MAX_CONSUMERS, type Consumer } from '../state/peaks.js';
import { atRest, mergeReadings, mergeReadingsInTurns } from './merge-readings.js';
import { packReadings, receivePacked, unpackReadings, type PackedReadings, type PeerReadings } from './packed-readings.js';
import type { Readings } from './readings.js';

/**
 * Every thread and every process counts its own traffic (undici's channels are per thread); the
 * one that exports adds up the others at each collection:
 * - worker threads answer their process's main thread on a BroadcastChannel;
 * - `node:cluster` workers answer the primary over the cluster's IPC channel, with their own
 *   threads' figures added.
 * A peer that ended still counts: its counters and histograms stay in the sum, its gauges leave.
 */
const CHANNEL = 'poolscope:peers';
/**
 * Node hands IPC messages whose `cmd` starts with `NODE_` to `internalMessage` listeners, never
 * to the app's `message` listeners, so the app never sees poolscope's messages.
 */
const CLUSTER_CMD = 'NODE_POOLSCOPE';
/** How long a collection waits for peers; one that does not answer in time is not waited for again until it does. */
const ANSWER_WITHIN_MS = 500;

type PeerMessage =
  | { readonly type: 'hello' }
  | { readonly type: 'collect'; readonly id: number; readonly consumer: Consumer | undefined }
  | { readonly type: 'readings'; readonly id: number; readonly readings: Readings; readonly final: boolean }
  // A type of its own: a copy of poolscope from before packing ignores it rather than misreading it.
  | { readonly type: 'packed-readings'; readonly id: number; readonly readings: PackedReadings; readonly final: boolean };

interface Peer {
  /** Its latest answer, to whichever consumer: shown while it does not answer in time. */
  readings: PeerReadings | undefined;
  /** It ended (or said its last): its counters are folded into the retired sum at the next collection. */
  ended: boolean;
  /** It missed a collection: not waited for until it answers again. */
  silent: boolean;
  /** How to ask it; undefined for threads, which are asked all at once. */
  readonly clusterWorker: ClusterWorker | undefined;
}

/** One collection's questions: the peers still to answer, and what those that did said. */
interface Round {
  readonly expected: Set<string>;
  readonly answers: Map<string, PeerReadings>;
  readonly answered: () => void;
}

function isMessage(value: unknown): value is PeerMessage & { from?: unknown; cmd?: unknown } {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

/**
 * The consumer a collection is for, if it is one: another copy of poolscope in the process
 * (another version) speaks on the same channel, and its questions must not break this one.
 */
function consumerIn(message: { readonly consumer?: unknown }): Consumer | undefined {
  const consumer = message.consumer as Consumer | null | undefined;
  const valid = typeof consumer === 'object' && consumer !== null && Number.isInteger(consumer.slot) && consumer.slot >= 0 &&
    consumer.slot < MAX_CONSUMERS && typeof consumer.id === 'number' && typeof consumer.first === 'boolean';
  return valid ? { slot: consumer.slot, id: consumer.id, first: consumer.first } : undefined;
}

/** Collects the figures of this process's worker threads and, in a cluster primary, of its workers. */
export class PeerAggregator {
  readonly #maxOrigins: number;
  readonly #peers = new Map<string, Peer>();
  /** What ended peers counted. */
  #retired: Readings = { values: [], histograms: [] };
  readonly #channel = new BroadcastChannel(CHANNEL);
  #nextId = 0;
  /** Collections under way, by id: each consumer's has its own, as each is owed its own peaks. */
  readonly #rounds = new Map<number, Round>();
  readonly #onWorker = (message: unknown): void => {
    const worker = (message as { worker?: Worker }).worker;
    if (worker === undefined || typeof worker.once !== 'function') return;
    const key = `thread:${worker.threadId}`;
    worker.once('exit', () => this.#end(key));
  };
  readonly #onFork = (worker: ClusterWorker): void => {
    const key = `cluster:${worker.id}`;
    (worker.process as unknown as NodeJS.EventEmitter).on('internalMessage', (message: unknown) => {
      if (isMessage(message) && message.cmd === CLUSTER_CMD) this.#receive(key, message, worker);
    });
  };
  readonly #onClusterExit = (worker: ClusterWorker): void => this.#end(`cluster:${worker.id}`);

  constructor(maxOrigins: number) {
    this.#maxOrigins = maxOrigins;
    this.#channel.unref();
    this.#channel.onmessage = (event) => {
      const { data } = event as MessageEvent;
      if (isMessage(data) && typeof data.from === 'string') this.#receive(data.from, data, undefined);
    };
    diagnosticsChannel.subscribe('worker_threads', this.#onWorker);
    if (cluster.isPrimary) {
      cluster.on('fork', this.#onFork);
      cluster.on('exit', this.#onClusterExit);
    }
  }

  /**
   * This thread's readings plus every peer's, merged, for `consumer` (see `readValues()`): the
   * peers read theirs while this thread reads its own.
   */
  async gather(reading: Promise<Readings>, consumer: Consumer | undefined): Promise<Readings> {
    this.#retire();
    const [local, answers] = await Promise.all([reading, this.#ask(consumer)]);
    const all: PeerReadings[] = [local];
    if (this.#retired.values.length > 0 || this.#retired.histograms.length > 0) all.push(this.#retired);
    for (const [key, peer] of this.#peers) {
      const readings = answers.get(key) ?? peer.readings;
      if (readings !== undefined) all.push(readings);
    }
    return all.length === 1 ? local : mergeReadingsInTurns(all, this.#maxOrigins);
  }

  /**
   * Asks every live peer for its readings for `consumer`, and waits for the answers or
   * ANSWER_WITHIN_MS. Rounds of collections that overlap (Prometheus and OTLP, two scrapers)
   * each keep their own answers.
   */
  async #ask(consumer: Consumer | undefined): Promise<Map<string, PeerReadings>> {
    const expected = new Set<string>();
    const answers = new Map<string, PeerReadings>();
    for (const [key, peer] of this.#peers) if (!peer.ended && !peer.silent) expected.add(key);
    if (expected.size === 0) return answers;
    const id = ++this.#nextId;
    await new Promise<void>((resolve) => {
      this.#rounds.set(id, { expected, answers, answered: resolve });
      setTimeout(resolve, ANSWER_WITHIN_MS).unref();
      this.#channel.postMessage({ type: 'collect', id, consumer });
      for (const key of expected) {
        const worker = this.#peers.get(key)?.clusterWorker;
        if (worker !== undefined) sendQuietly(worker, { cmd: CLUSTER_CMD, type: 'collect', id, consumer });
      }
    });
    this.#rounds.delete(id);
    for (const key of expected) {
      const peer = this.#peers.get(key);
      if (peer !== undefined) peer.silent = true;
    }
    return answers;
  }

  close(): void {
    this.#channel.close();
    diagnosticsChannel.unsubscribe('worker_threads', this.#onWorker);
    if (cluster.isPrimary) {
      cluster.off('fork', this.#onFork);
      cluster.off('exit', this.#onClusterExit);
    }
  }

  #receive(key: string, message: PeerMessage, clusterWorker: ClusterWorker | undefined): void {
    let peer = this.#peers.get(key);
    if (peer === undefined) {
      if (message.type === 'collect') return;
      peer = { readings: undefined, ended: false, silent: false, clusterWorker };
      this.#peers.set(key, peer);
    }
    if (message.type !== 'readings' && message.type !== 'packed-readings') return;
    // Packed readings are checked once, here; anything malformed is dropped as if never sent.
    const readings = message.type === 'readings' ? message.readings : receivePacked(message.readings);
    if (readings === undefined) return;
    peer.readings = readings;
    peer.silent = false;
    if (message.final) peer.ended = true;
    const round = this.#rounds.get(message.id);
    if (round === undefined || !round.expected.delete(key)) return;
    round.answers.set(key, readings);
    if (round.expected.size === 0) round.answered();
  }

  #end(key: string): void {
    const peer = this.#peers.get(key);
    if (peer !== undefined) peer.ended = true;
  }

  /** Folds ended peers into one sum, so that peers that come and go cost no memory each. */
  #retire(): void {
    const ended: Readings[] = [];
    for (const [key, peer] of this.#peers) {
      if (!peer.ended) continue;
      this.#peers.delete(key);
      const { readings } = peer;
      if (readings !== undefined) ended.push(atRest(unpackReadings(readings)));
    }
    // Both sides are at rest already, and merging keeps them so.
    if (ended.length > 0) this.#retired = mergeReadings([this.#retired, ...ended], this.#maxOrigins);
  }
}

/** A worker thread's side: answers its main thread with its readings, and says its last ones when it ends. */
export class ThreadReporter {
  readonly #channel = new BroadcastChannel(CHANNEL);
  readonly #from: string;
  readonly #read: (consumer: Consumer | undefined) => Readings;
  #closed = false;

  constructor(threadId: number, read: (consumer: Consumer | undefined) => Readings) {
    this.#from = `thread:${threadId}`;
    this.#read = read;
    this.#channel.unref();
    this.#channel.onmessage = (event) => {
      const { data } = event as MessageEvent;
      if (isMessage(data) && data.type === 'collect' && data.from === undefined) this.#send(data.id, consumerIn(data), false);
    };
    this.#channel.postMessage({ type: 'hello', from: this.#from });
  }

  /**
   * Sends the last readings; synchronous, so it can run in the thread's `exit` event. Their
   * gauges are not kept, so no consumer's peaks are taken.
   */
  close(): void {
    if (this.#closed) return;
    this.#send(-1, undefined, true);
    this.#closed = true;
    this.#channel.close();
  }

  #send(id: number, consumer: Consumer | undefined, final: boolean): void {
    if (this.#closed) return;
    this.#channel.postMessage({ type: 'packed-readings', from: this.#from, id, readings: packReadings(this.#read(consumer)), final });
  }
}

/** A cluster worker's side: answers the primary with its readings and its threads', and its last ones when it ends. */
export class ClusterReporter {
  readonly #gather: (consumer: Consumer | undefined) => Promise<Readings>;
  readonly #onMessage = (message: unknown): void => {
    if (!isMessage(message) || message.cmd !== CLUSTER_CMD || message.type !== 'collect') return;
    const { id } = message;
    void this.#gather(consumerIn(message)).then((readings) => sendQuietly(process, { cmd: CLUSTER_CMD, type: 'readings', id, readings, final: false }), () => {});
  };
  #closed = false;

  constructor(gather: (consumer: Consumer | undefined) => Promise<Readings>) {
    this.#gather = gather;
    (process as NodeJS.EventEmitter).on('internalMessage', this.#onMessage);
    sendQuietly(process, { cmd: CLUSTER_CMD, type: 'hello' });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    (process as NodeJS.EventEmitter).off('internalMessage', this.#onMessage);
    // The last readings' gauges are not kept: no consumer's peaks are taken.
    const readings = await this.#gather(undefined);
    await new Promise<void>((resolve) => sendQuietly(process, { cmd: CLUSTER_CMD, type: 'readings', id: -1, readings, final: true }, resolve));
  }
}

interface Sender { send?: unknown; connected?: unknown }

/** IPC send that never throws: a primary or worker that is gone is nobody to tell. */
function sendQuietly(target: object, message: unknown, done: () => void = () => {}): void {
  try {
    const { send, connected } = target as Sender;
    if (typeof send !== 'function' || connected === false) return done();
    Reflect.apply(send, target, [message, () => done()]);
  } catch {
    done();
  }
}
