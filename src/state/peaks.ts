/**
 * Peaks "since the previous collection" hold for each consumer: two Prometheus replicas, a
 * scrape beside an OTLP export, `poolscope report` beside Prometheus. Were a read to reset one
 * shared peak, each would see only the peak since *anyone's* last read.
 *
 * The hot path keeps one running maximum, as before. Each read folds it into the peak owed to
 * every consumer, hands the reader its own and starts the period again: O(consumers) per read.
 */

/** Consumers tracked at once; memory stays bounded whatever scrapes `/metrics`. */
export const MAX_CONSUMERS = 8;

/** One reader of the peaks: plain data, so it travels to worker threads and cluster workers. */
export interface Consumer {
  /** Its place in every peak's table, below MAX_CONSUMERS. */
  readonly slot: number;
  /** Never given twice: tells it from the consumers that held the slot before. */
  readonly id: number;
  /** Not seen before: nothing is owed to it yet, so its reading is the peak since anyone's last read. */
  readonly first: boolean;
}

/**
 * Names consumers (`otlp`, a scraper's address and user-agent) with slots. Once all are taken,
 * a new consumer takes the slot of the one seen least recently, which is forgotten.
 */
export class ConsumerTable {
  readonly #keys: Array<string | undefined> = new Array(MAX_CONSUMERS).fill(undefined);
  readonly #ids = new Array<number>(MAX_CONSUMERS).fill(0);
  readonly #seenAt = new Array<number>(MAX_CONSUMERS).fill(0);
  #clock = 0;
  #lastId = 0;

  see(key: string): Consumer {
    const now = ++this.#clock;
    let slot = this.#keys.indexOf(key);
    if (slot >= 0) {
      this.#seenAt[slot] = now;
      return { slot, id: this.#ids[slot]!, first: false };
    }
    slot = 0;
    for (let i = 1; i < MAX_CONSUMERS; i++) if (this.#seenAt[i]! < this.#seenAt[slot]!) slot = i;
    this.#keys[slot] = key;
    this.#ids[slot] = ++this.#lastId;
    this.#seenAt[slot] = now;
    return { slot, id: this.#lastId, first: true };
  }

  /**
   * A consumer there from start, such as a periodic reader: its first collection has every peak
   * since start, not since the last read by anyone. Returns what names it at each collection.
   */
  fromStart(key: string): () => Consumer {
    this.see(key);
    return () => this.see(key);
  }
}

/** What one peak owes each consumer: its highest value since that consumer's previous read. */
export class OwedPeaks {
  readonly #owed = new Float64Array(MAX_CONSUMERS);
  /** The consumer each slot's value is owed to; 0 while no consumer read it. */
  readonly #owner = new Float64Array(MAX_CONSUMERS);

  /**
   * The peak owed to `consumer`, given the running maximum since the last read by anyone and
   * the level now; the caller then starts the running maximum again from `current`.
   */
  take(consumer: Consumer, running: number, current: number): number {
    const owed = this.#owed;
    for (let i = 0; i < MAX_CONSUMERS; i++) if (running > owed[i]!) owed[i] = running;
    const { slot, id } = consumer;
    const owner = this.#owner[slot]!;
    // A slot no one has read holds everything since this peak began: owed to a consumer already
    // known (the origin is newer than its last read), not to one that has just appeared.
    const peak = owner === id || (owner === 0 && !consumer.first) ? owed[slot]! : running;
    this.#owner[slot] = id;
    owed[slot] = current;
    return peak;
  }
}
