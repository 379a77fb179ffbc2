/**
 * Turns Azure SDK failures that a retry may fix (throttling, 5xx, timeouts, connection errors) into
 * the core's `UnavailableError`, so every Azure adapter reports them the same way (503 with a retry
 * hint upstream). Everything else is rethrown as is.
 *
 * The checks are duck-typed on `statusCode` / `code` rather than `instanceof RestError`: each Azure
 * SDK package may bring its own copy of `@azure/core-rest-pipeline`, and the classes differ.
 */
import { AppError, UnavailableError } from '../../../shared/errors';

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'REQUEST_SEND_ERROR',
]);

/** The HTTP status of an Azure SDK error (`RestError.statusCode`), if it has one. */
export function statusOf(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const status = (error as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Whether an Azure SDK error is worth retrying later. */
export function isRetryable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { name?: string; code?: string };
  if (e.name === 'AbortError' || e.name === 'TimeoutError') return true;
  if (e.code !== undefined && NETWORK_CODES.has(e.code)) return true;
  const status = statusOf(error);
  return status === 408 || status === 429 || (status !== undefined && status >= 500);
}

/** Seconds the service asked us to wait (`Retry-After` / `x-ms-retry-after-ms`), if it said so. */
export function retryAfterSeconds(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const headers = (error as { response?: { headers?: { get?: (name: string) => string | undefined } } })
    .response?.headers;
  if (typeof headers?.get !== 'function') return undefined;
  const ms = Number(headers.get('x-ms-retry-after-ms') ?? headers.get('retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return Math.max(1, Math.ceil(ms / 1000));
  const seconds = Number(headers.get('retry-after'));
  if (Number.isFinite(seconds) && seconds > 0) return Math.ceil(seconds);
  return undefined;
}

/**
 * Runs one Azure call; a retryable failure becomes `UnavailableError` naming `what` (never any
 * request payload, which may hold key material).
 */
export async function callAzure<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toUnavailable(what, error);
  }
}

/** `error` as an `UnavailableError` if a retry may fix it, else unchanged. */
export function toUnavailable(what: string, error: unknown): unknown {
  if (error instanceof AppError || !isRetryable(error)) return error;
  const retryAfter = retryAfterSeconds(error);
  return new UnavailableError(`${what} is unavailable; retry shortly.`, {
    cause: error,
    ...(retryAfter === undefined ? {} : { retryAfterSeconds: retryAfter }),
  });
}
