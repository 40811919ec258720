import type { OriginRegistry } from './origin-registry.js';
import type { OriginStats } from './origin-stats.js';

/** What the readers read: every origin record, and a hook for the records added later. */
export interface OriginSource {
  /** Every record, as `OriginRegistry.all()` yields them. */
  all(): IterableIterator<OriginStats>;
  /** Called once for each record created from now on. */
  onOriginAdded: ((origin: OriginStats) => void) | undefined;
}

/**
 * The registries of every kind of pool (undici, `http.Agent`), read as one: each keeps its own
 * origins, `maxOrigins` and `_other`, and the readers see them one after the other.
 */
export class OriginRegistries implements OriginSource {
  readonly #registries: readonly OriginRegistry[];
  #onOriginAdded: ((origin: OriginStats) => void) | undefined = undefined;

  constructor(registries: readonly OriginRegistry[]) {
    this.#registries = registries;
  }

  *all(): IterableIterator<OriginStats> {
    for (const registry of this.#registries) yield* registry.all();
  }

  get onOriginAdded(): ((origin: OriginStats) => void) | undefined {
    return this.#onOriginAdded;
  }

  set onOriginAdded(hook: ((origin: OriginStats) => void) | undefined) {
    this.#onOriginAdded = hook;
    for (const registry of this.#registries) registry.onOriginAdded = hook;
  }
}
