/** One owner's records on objects it does not own; the same calls as a `WeakMap`. */
export interface ObjectSlot<T> {
  get(target: object): T | undefined;
  has(target: object): boolean;
  set(target: object, record: T): void;
}

/** A record names its owner: one slot per object serves every owner, each seeing its own. */
export interface Owned {
  readonly owner: object;
}

/** Requests also get `claim`: the one call their creation makes. */
export interface RequestSlot<T extends Owned> extends ObjectSlot<T> {
  /** Sets the record unless `target` already carries one of this owner's; false if it did. */
  claim(target: object, record: T): boolean;
}

/** Records on sockets: stamped once, or over an earlier owner's. */
export interface SocketSlot<T extends Owned> {
  /** This owner's record, or undefined. */
  get(target: object): T | undefined;
  /** Stamps a socket, over whatever record it carries; returns that record, any owner's. */
  replace(target: object, record: T): Owned | undefined;
}

/**
 * poolscope's records hang on objects it does not own, the requests and sockets of undici and
 * node:http: they go with the object, and a read is one property load. A `WeakMap` gives the same guarantees at
 * ~100 ns per operation here, and a request took six of them.
 *
 * Sockets carry theirs in a private class field, which the app and undici cannot see (no key, no
 * proxy trap): apps hold and log sockets. A base constructor that returns its argument makes a
 * subclass's fields land on that object; the private name is made once, so sockets gain the same
 * hidden-class transition however often poolscope restarts.
 *
 * Requests carry theirs under a symbol of this module's own. Every request is stamped at its
 * creation, and stamping through that constructor took V8's generic construct path, an object
 * allocated and dropped, and a property check: ~460 instructions of a keep-alive
 * `undici.request()` (e2e callgrind), ~230 of node:http's, where the symbol is one store. The
 * symbol shows to reflection (`Object.getOwnPropertySymbols`, `util.inspect`, object spread): an
 * app meets undici's requests only through diagnostics channels, but logs node:http's (an axios
 * error carries one), so a record prints as one word there (see node-http/records.ts); not to
 * `Object.keys`, `for...in` or JSON. What only a made-up payload does: a frozen request or a Proxy refuses the
 * store or throws from its trap (the tap's handler catches it and warns once), and an object
 * whose prototype is a stamped request reads that request's record.
 */
class Stamp {
  constructor(target: object) {
    return target as Stamp;
  }
}

/** The key of poolscope's record on a request, one per copy of poolscope. */
const REQUEST_RECORD = Symbol('poolscope.request');

type Stamped = { [REQUEST_RECORD]?: Owned };

/** `owner`'s records on requests; each record names `owner` as its `owner`. */
export function requestSlot<T extends Owned>(owner: object): RequestSlot<T> {
  return {
    get(target) {
      const record = (target as Stamped)[REQUEST_RECORD];
      return record !== undefined && record.owner === owner ? record as T : undefined;
    },
    has: (target) => (target as Stamped)[REQUEST_RECORD]?.owner === owner,
    set(target, record) {
      (target as Stamped)[REQUEST_RECORD] = record;
    },
    // One record per request serves every owner: a later one (a restart) takes the request over.
    claim(target, record) {
      const stamped = target as Stamped;
      if (stamped[REQUEST_RECORD]?.owner === owner) return false;
      stamped[REQUEST_RECORD] = record;
      return true;
    },
  };
}

/**
 * poolscope's record on a socket, in one private field. A socket's record also carries what
 * outlives its owner (the one close listener a socket gets for the life of the process), so a
 * later owner can read the record an earlier one left.
 */
class SocketStamp extends Stamp {
  #record: Owned;

  private constructor(target: object, record: Owned) {
    super(target);
    this.#record = record;
  }

  static slot<T extends Owned>(owner: object): SocketSlot<T> {
    return {
      get(target) {
        try {
          const record = (target as SocketStamp).#record;
          return record.owner === owner ? record as T : undefined;
        } catch {
          return undefined;
        }
      },
      // A socket seldom carries a record yet (one of an earlier owner's): stamp it first, and read
      // what was there from the throw.
      replace(target, record) {
        try {
          new SocketStamp(target, record);
          return undefined;
        } catch {
          const replaced = (target as SocketStamp).#record;
          (target as SocketStamp).#record = record;
          return replaced;
        }
      },
    };
  }
}

/** `owner`'s records on sockets; each record names `owner` as its `owner`. */
export function socketSlot<T extends Owned>(owner: object): SocketSlot<T> {
  return SocketStamp.slot<T>(owner);
}
