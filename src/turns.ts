import { setImmediate as turn } from 'node:timers/promises';

/**
 * Work done at collection time over every origin or every reading, in turns of the event loop:
 * it must not hold the app's requests back for longer than a few items take. A count of items
 * rather than a clock, so the turns are the same on any machine. One `Turns` counts across all
 * the collections it is given.
 */
export class Turns {
  readonly #perTurn: number;
  #inThisTurn = 0;

  constructor(perTurn: number) {
    this.#perTurn = perTurn;
  }

  /**
   * Calls `each` for every item, letting the event loop run whenever `perTurn` items were done
   * in this turn. Items added to a live collection (a `Map`) meanwhile are visited too.
   */
  async forEach<T>(items: Iterable<T>, each: (item: T) => void): Promise<void> {
    for (const item of items) {
      if (this.#inThisTurn === this.#perTurn) {
        await turn();
        this.#inThisTurn = 0;
      }
      each(item);
      this.#inThisTurn++;
    }
  }
}
