/**
 * Failure injection for the Azure adapter tests (the one place mocks are allowed): wraps a real SDK
 * client so that one chosen call fails with a service error, and every other call reaches the
 * emulator unchanged.
 */
import { RestError } from '@azure/data-tables';

/** A service error as the Azure SDKs throw it, with optional response headers (e.g. Retry-After). */
export function serviceError(statusCode: number, headers: Record<string, string> = {}): RestError {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const response = { status: statusCode, headers: { get: (name: string) => lower[name.toLowerCase()] } };
  // The SDK's own type wants a full PipelineResponse; the adapters read only status and headers.
  return new RestError(`injected ${statusCode}`, { statusCode, response: response as never });
}

/**
 * Returns `target` whose `method` rejects with `error` on its `onCall`-th call (1-based; every
 * call from then on if `sticky`). `calls()` tells how often the method was called.
 */
export function injectFault<T extends object>(
  target: T,
  method: keyof T & string,
  error: Error,
  options: { onCall?: number; sticky?: boolean } = {},
): T & { calls(): number } {
  const onCall = options.onCall ?? 1;
  let count = 0;
  return new Proxy(target, {
    get(obj, prop, receiver) {
      if (prop === 'calls') return () => count;
      const value = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop !== method) return value.bind(obj);
      return (...args: unknown[]) => {
        count++;
        if (count === onCall || (options.sticky && count > onCall)) return Promise.reject(error);
        return value.apply(obj, args);
      };
    },
  }) as T & { calls(): number };
}
