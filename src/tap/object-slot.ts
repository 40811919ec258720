/** One owner's records on objects it does not own; the same calls as a `WeakMap`. */
export interface ObjectSlot<T> {
  get(target: object): T | undefined;
  has(target: object): boolean;
  set(target: object, record: T): void;
}

/** A request's record names its owner: one private field on the request instead of two. */
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
 * poolscope's records hang on objects it does not own (undici's requests, sockets) as private
 * class fields: the app and undici cannot see them (no key, no symbol, no proxy trap), they go
 * with the object, and a read is one property load. A `WeakMap` gives the same guarantees at
 * ~100 ns per operation here, and a request took six of them.
 *
 * A base constructor that returns its argument makes a subclass's fields land on that object.
 * Each owner (a tap) sees only its own records, as with a `WeakMap` of its own; the private
 * names are made once, so undici's objects gain the same hidden-class transitions however
 * often poolscope restarts.
 */
class Stamp {
  constructor(target: object) {
    return target as Stamp;
  }
}

/*
 * Requests and sockets get a class each, written out twice on purpose: V8 keeps one inline
 * cache per place in the source, and one cache seeing both requests and sockets (four shapes
 * or more) goes megamorphic, which cost ~2,000 instructions per request under callgrind.
 */

/**
 * poolscope's record on an undici request. Every request gets one at its creation, so it holds a
 * single field, the record, which carries its owner: defining a private field on another's
 * object is a check and a store, and every request paid for two.
 */
class RequestStamp extends Stamp {
  #record: Owned;

  private constructor(target: object, record: Owned) {
    super(target);
    this.#record = record;
  }

  static slot<T extends Owned>(owner: object): RequestSlot<T> {
    const slot: RequestSlot<T> = {
      // Every event after a request's creation finds it stamped: read at once, and answer a
      // stranger (created before poolscope listened, or not a request) from the throw.
      get(target) {
        try {
          const record = (target as RequestStamp).#record;
          return record.owner === owner ? record as T : undefined;
        } catch {
          return undefined;
        }
      },
      has: (target) => #record in target && (target as RequestStamp).#record.owner === owner,
      set(target, record) {
        if (#record in target) (target as RequestStamp).#record = record;
        else new RequestStamp(target, record);
      },
      // A request is created unstamped: stamp it at once, without asking first (an `in` check is
      // a call into V8's runtime), and sort out the object that was stamped before from the throw.
      claim(target, record) {
        try {
          new RequestStamp(target, record);
          return true;
        } catch {
          if (slot.has(target)) return false;
          slot.set(target, record);
          return true;
        }
      },
    };
    return slot;
  }
}

/**
 * poolscope's record on a socket: one field, as on requests. A socket's record also carries what
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

/** `owner`'s records on undici requests; each record names `owner` as its `owner`. */
export function requestSlot<T extends Owned>(owner: object): RequestSlot<T> {
  return RequestStamp.slot<T>(owner);
}

/** `owner`'s records on sockets; each record names `owner` as its `owner`. */
export function socketSlot<T extends Owned>(owner: object): SocketSlot<T> {
  return SocketStamp.slot<T>(owner);
}
