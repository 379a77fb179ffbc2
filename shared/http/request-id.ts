/**
 * The request id of DESIGN section 5: every response carries `X-Request-Id`, the caller's when
 * it is sane, else a new one, and every log line of the request carries it.
 */
import { randomUUID } from 'node:crypto';

/** The header, lower case as the runtimes pass header names. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** A caller's id is kept when it is 1-128 characters of letters, digits and `._:-`. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The request id for a request: the caller's `X-Request-Id` when sane, else a new UUID (a
 * hostile one, e.g. with line breaks or markup, never reaches a log line or a response).
 */
export function requestIdOf(headers: Record<string, string | undefined>): string {
  const given = headers[REQUEST_ID_HEADER];
  return given !== undefined && SANE_REQUEST_ID.test(given) ? given : randomUUID();
}
