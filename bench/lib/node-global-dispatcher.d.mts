/** Puts Node's own global dispatcher back where an undici package replaced it (see the .mjs). */
export function keepNodeGlobalDispatcher(): void;
