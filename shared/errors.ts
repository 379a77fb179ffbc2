/**
 * One error hierarchy for the whole product. Every error a caller can see has a stable
 * UPPER_SNAKE code; the HTTP status for each code is decided in one place
 * (`shared/http/status.ts`), never where the error is thrown.
 */

/** Every code the API can answer with. */
export const ERROR_CODES = [
  // validation (400)
  'INVALID_PEM',
  'NOT_A_CERTIFICATE',
  'INVALID_CERTIFICATE',
  'MULTIPLE_CERTIFICATES',
  'UNSUPPORTED_KEY_ALGORITHM',
  'KEY_TOO_SMALL',
  'KEY_TOO_LARGE',
  'WEAK_PUBLIC_KEY',
  'UNSUPPORTED_KEY_ENCRYPTION',
  'PRIVATE_KEY_REQUIRED',
  'INVALID_PRIVATE_KEY',
  'PKCS8_REQUIRED',
  'PRIVATE_KEY_ENCRYPTED',
  'KEY_MISMATCH',
  'CERTIFICATE_EXPIRED',
  'CERTIFICATE_NOT_YET_VALID',
  'INVALID_SIGNATURE',
  'KEY_USAGE_FORBIDS_ENCRYPTION',
  'VALIDATION_ERROR',
  'NOT_CMS',
  'TOO_MANY_RECIPIENTS',
  // auth
  'UNAUTHORIZED',
  'FORBIDDEN',
  // lookup and state
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'REQUEST_TIMEOUT',
  'MISDIRECTED_REQUEST',
  'CERTIFICATE_EXISTS',
  'CERTIFICATE_IN_USE',
  'CERTIFICATE_RETAINED',
  'CERTIFICATE_NOT_USABLE',
  'NO_RECORDING_CERTIFICATE',
  'ENCRYPTION_WOULD_BE_DISABLED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'NO_MATCHING_KEY',
  'INTEGRITY_CHECK_FAILED',
  // ours to fix or to retry
  'SERVICE_UNAVAILABLE',
  'INTERNAL_ERROR',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Warnings attached to an accepted certificate. */
export const WARNING_CODES = ['EXPIRES_SOON', 'PASSWORD_IGNORED', 'NON_STANDARD_COUNTRY'] as const;
export type WarningCode = (typeof WARNING_CODES)[number];

export interface Warning {
  code: WarningCode;
  message: string;
}

/** Base of every error that carries a stable code a caller may act on. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { details?: Record<string, unknown>; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options?.details;
  }
}

/** The caller sent something we refuse (any 4xx). */
export class ValidationError extends AppError {}

/** The resource does not exist for this tenant. */
export class NotFoundError extends AppError {
  constructor(what: string, id: string) {
    super('NOT_FOUND', `${what} '${id}' was not found.`, { details: { [what]: id } });
  }
}

/** The request conflicts with the current state (409). */
export class ConflictError extends AppError {}

/** Authentication or authorization failed (401/403). */
export class AuthError extends AppError {}

/**
 * A dependency (store, key custody, event bus) failed in a way a retry may fix. Callers get 503
 * with a Retry-After hint; the cause is kept for the logs.
 */
export class UnavailableError extends AppError {
  readonly retryAfterSeconds: number;
  constructor(message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super('SERVICE_UNAVAILABLE', message, { cause: options?.cause });
    this.retryAfterSeconds = options?.retryAfterSeconds ?? 2;
  }
}

/**
 * Raised by repository adapters when a conditional write lost a race (version/ETag/condition
 * mismatch). Use cases re-read and retry; it never reaches a caller as such.
 */
export class ConcurrencyConflict extends Error {
  constructor(message = 'The record changed while it was being updated.') {
    super(message);
    this.name = 'ConcurrencyConflict';
  }
}

/** Raised by `createCertificate` when the tenant already holds that certificate. */
export class AlreadyExists extends Error {
  constructor(message = 'The record already exists.') {
    super(message);
    this.name = 'AlreadyExists';
  }
}
