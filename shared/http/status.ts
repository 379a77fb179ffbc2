/** The one place where error codes become HTTP statuses (and the headers that go with them). */
import { ERROR_CODES, type ErrorCode, type ErrorKind, kindOf } from '../errors';

/** The HTTP status of each kind of error. */
const STATUS_OF_KIND: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  'not-found': 404,
  'method-not-allowed': 405,
  timeout: 408,
  conflict: 409,
  'too-large': 413,
  'unsupported-media-type': 415,
  misdirected: 421,
  unprocessable: 422,
  internal: 500,
  unavailable: 503,
};

/** The HTTP status of every error code. */
export const STATUS_OF: Readonly<Record<ErrorCode, number>> = Object.fromEntries(
  ERROR_CODES.map((code) => [code, STATUS_OF_KIND[kindOf(code)]]),
) as Record<ErrorCode, number>;

/** The challenge a 401 carries (RFC 6750): every runtime and path answers with this one. */
export const WWW_AUTHENTICATE = 'Bearer realm="reccert"';
