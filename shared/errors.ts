/**
 * One error hierarchy for the whole product. Every error a caller can see has a stable
 * UPPER_SNAKE code from the one table below; the HTTP status of each kind of code is decided in
 * one place (`shared/http/status.ts`), never where the error is thrown. The classes only say
 * how an error is built (a 503's Retry-After, a 404's message); code that tells errors apart
 * reads their code (`codeOf`, `hasCode`, `isRefusal`), never their class.
 */

/**
 * What an error is, as far as a caller can act on it. Each kind is one HTTP status
 * (`shared/http/status.ts`); code decides by kind or by code, never by class.
 */
export type ErrorKind =
  /** The request is refused as sent (400). */
  | 'invalid'
  /** No acceptable credentials (401). */
  | 'unauthenticated'
  /** Credentials that do not allow this (403). */
  | 'forbidden'
  | 'not-found'
  | 'method-not-allowed'
  | 'timeout'
  | 'misdirected'
  /** The request conflicts with the current state (409). */
  | 'conflict'
  | 'too-large'
  | 'unsupported-media-type'
  /** Well-formed, but it cannot be processed: no key for it, or it fails its check (422). */
  | 'unprocessable'
  /** Ours to fix (500). */
  | 'internal'
  /** A dependency failed; a retry may help (503). */
  | 'unavailable';

interface ErrorSpec {
  kind: ErrorKind;
  /** A rule of upload validation (DESIGN section 3): every upload-shaped route may answer it. */
  upload?: true;
}

/**
 * THE table of error codes: every code the API can answer with, its kind, and whether it is an
 * upload validation rule. `ERROR_CODES`, `STATUS_OF` and `UPLOAD_VALIDATION_CODES` derive from it.
 */
const ERRORS = {
  INVALID_PEM: { kind: 'invalid', upload: true },
  NOT_A_CERTIFICATE: { kind: 'invalid', upload: true },
  INVALID_CERTIFICATE: { kind: 'invalid', upload: true },
  MULTIPLE_CERTIFICATES: { kind: 'invalid', upload: true },
  UNSUPPORTED_KEY_ALGORITHM: { kind: 'invalid', upload: true },
  KEY_TOO_SMALL: { kind: 'invalid', upload: true },
  KEY_TOO_LARGE: { kind: 'invalid', upload: true },
  WEAK_PUBLIC_KEY: { kind: 'invalid', upload: true },
  UNSUPPORTED_KEY_ENCRYPTION: { kind: 'invalid', upload: true },
  PRIVATE_KEY_REQUIRED: { kind: 'invalid', upload: true },
  INVALID_PRIVATE_KEY: { kind: 'invalid', upload: true },
  PKCS8_REQUIRED: { kind: 'invalid', upload: true },
  PRIVATE_KEY_ENCRYPTED: { kind: 'invalid', upload: true },
  KEY_MISMATCH: { kind: 'invalid', upload: true },
  CERTIFICATE_EXPIRED: { kind: 'invalid', upload: true },
  CERTIFICATE_NOT_YET_VALID: { kind: 'invalid', upload: true },
  INVALID_SIGNATURE: { kind: 'invalid', upload: true },
  KEY_USAGE_FORBIDS_ENCRYPTION: { kind: 'invalid', upload: true },
  VALIDATION_ERROR: { kind: 'invalid', upload: true },
  NOT_CMS: { kind: 'invalid' },
  TOO_MANY_RECIPIENTS: { kind: 'invalid' },
  UNAUTHORIZED: { kind: 'unauthenticated' },
  FORBIDDEN: { kind: 'forbidden' },
  NOT_FOUND: { kind: 'not-found' },
  METHOD_NOT_ALLOWED: { kind: 'method-not-allowed' },
  REQUEST_TIMEOUT: { kind: 'timeout' },
  MISDIRECTED_REQUEST: { kind: 'misdirected' },
  CERTIFICATE_EXISTS: { kind: 'conflict' },
  CERTIFICATE_IN_USE: { kind: 'conflict' },
  CERTIFICATE_RETAINED: { kind: 'conflict' },
  CERTIFICATE_NOT_USABLE: { kind: 'conflict' },
  NO_RECORDING_CERTIFICATE: { kind: 'conflict' },
  ENCRYPTION_WOULD_BE_DISABLED: { kind: 'conflict' },
  NO_ESCROW_CERTIFICATE: { kind: 'conflict' },
  PAYLOAD_TOO_LARGE: { kind: 'too-large' },
  UNSUPPORTED_MEDIA_TYPE: { kind: 'unsupported-media-type' },
  NO_MATCHING_KEY: { kind: 'unprocessable' },
  INTEGRITY_CHECK_FAILED: { kind: 'unprocessable' },
  SERVICE_UNAVAILABLE: { kind: 'unavailable' },
  INTERNAL_ERROR: { kind: 'internal' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** Every code the API can answer with, in the table's order. */
export const ERROR_CODES = Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]];

/** The validation codes every upload-shaped route may answer with. */
export const UPLOAD_VALIDATION_CODES: readonly ErrorCode[] = ERROR_CODES.filter(
  (code) => (ERRORS[code] as ErrorSpec).upload === true,
);

/** The kind of a code. */
export function kindOf(code: ErrorCode): ErrorKind {
  return ERRORS[code].kind;
}

/** The code of one of our errors; undefined for anything else (a dependency's, a bug). */
export function codeOf(error: unknown): ErrorCode | undefined {
  return error instanceof AppError ? error.code : undefined;
}

/** Is `error` one of ours with one of `codes`? */
export function hasCode(error: unknown, ...codes: ErrorCode[]): boolean {
  const code = codeOf(error);
  return code !== undefined && codes.includes(code);
}

/** Is `error` one of ours of one of `kinds`? */
export function hasKind(error: unknown, ...kinds: ErrorKind[]): boolean {
  const code = codeOf(error);
  return code !== undefined && kinds.includes(kindOf(code));
}

/**
 * Is `error` one of ours that refuses the request (any 4xx kind), as opposed to a failure of
 * ours or of a dependency?
 */
export function isRefusal(error: unknown): boolean {
  return codeOf(error) !== undefined && !hasKind(error, 'internal', 'unavailable');
}

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
