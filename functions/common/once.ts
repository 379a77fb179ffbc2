/**
 * Build-on-first-use for the parts a runtime makes once per process (a Lambda cold start, a
 * Functions worker start): the first call pays for them, the later ones reuse them.
 */

/** Builds `make()` once, on first use; a throw is not cached (nothing was built). */
export function once<T>(make: () => T): () => T {
  let value: { v: T } | undefined;
  return () => {
    value ??= { v: make() };
    return value.v;
  };
}

/**
 * Builds `make()` once, on first use, for asynchronous builds. A failed build (e.g. a missing
 * setting) is not cached: the next call tries again rather than failing forever.
 */
export function onceOrRetry<T>(make: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= make().catch((error: unknown) => {
      value = undefined;
      throw error;
    });
    return value;
  };
}
