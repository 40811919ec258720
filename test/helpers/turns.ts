/**
 * Counts the turns of the event loop from its creation on, by a `setImmediate` chain: how often
 * work done in turns let the loop run.
 */
export class TurnCounter {
  #turns = 0;
  #counting = true;

  constructor() {
    const count = (): void => {
      this.#turns++;
      if (this.#counting) setImmediate(count);
    };
    setImmediate(count);
  }

  /** The turns so far. */
  get turns(): number {
    return this.#turns;
  }

  /** Ends the count; returns the turns counted. */
  stop(): number {
    this.#counting = false;
    return this.#turns;
  }
}
