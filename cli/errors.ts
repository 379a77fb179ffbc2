/**
 * What a CLI run can end with, and the exit code each maps to. Validation errors from the core
 * (`shared/errors.ts`) keep their codes, so `reccert inspect` says exactly what the API would.
 */
import { AppError } from '../shared/errors';

/** Exit codes, documented in `reccert --help`. */
export const EXIT = {
  ok: 0,
  /** The input was refused: validation failed, the service said no, a file would be overwritten. */
  refused: 1,
  /** The command line is wrong: unknown option, bad value, missing or unreadable file. */
  usage: 2,
  /** The service could not be reached or failed (5xx): trying again later may help. */
  unavailable: 3,
  /** A bug in reccert. */
  internal: 70,
} as const;

/** The command line is wrong; exit code 2. */
export class UsageError extends Error {
  /** The command whose `--help` the message points to. */
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

/** A refusal that is not a core validation error (for example, "file exists"); exit code 1. */
export class RefusedError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;
  readonly exitCode: number;
  constructor(
    code: string,
    message: string,
    options?: { details?: Record<string, unknown>; exitCode?: number },
  ) {
    super(message);
    this.name = 'RefusedError';
    this.code = code;
    this.details = options?.details;
    this.exitCode = options?.exitCode ?? EXIT.refused;
  }
}

/** One error, as printed: `{code, message, details?}` and its exit code. */
export interface ReportedError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
  exitCode: number;
}

/**
 * The core's messages name the API's form fields; on the command line the same thing is an
 * option, so the printed line says so (the `--json` output keeps the API's message).
 */
export function cliWording(message: string): string {
  return message
    .replace(/\bin privateKeyPassword\b/g, 'with --password or --password-file')
    .replace(/\bprivateKeyPassword\b/g, '--password');
}

/** Keeps an error report on one line, whatever the message holds. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** Maps anything thrown to what the user sees. Unknown errors never show their stack here. */
export function reportOf(error: unknown): ReportedError {
  if (error instanceof UsageError) {
    const hint = error.command ? ` (see: reccert ${error.command} --help)` : ' (see: reccert --help)';
    return { code: 'USAGE', message: `${error.message}${hint}`, exitCode: EXIT.usage };
  }
  if (error instanceof AppError) {
    return {
      code: error.code,
      message: error.message,
      ...(error.details ? { details: error.details } : {}),
      exitCode: EXIT.refused,
    };
  }
  if (error instanceof RefusedError) {
    return {
      code: error.code,
      message: error.message,
      ...(error.details ? { details: error.details } : {}),
      exitCode: error.exitCode,
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { code: 'INTERNAL_ERROR', message: `unexpected error: ${message}`, exitCode: EXIT.internal };
}
