import type { AuditEntry, DomainEvent, Principal, UploadFlow } from '../domain/types';
import { ConcurrencyConflict, codeOf, UnavailableError } from '../errors';
import type {
  CertificateRepository,
  Clock,
  EscrowStore,
  EventPublisher,
  IdGenerator,
  KeyCustody,
  Logger,
  NoticeOutbox,
  NotificationSink,
} from '../ports';

/** Settings read once at start-up by each runtime. */
export interface CoreConfig {
  flow: UploadFlow;
  /** Expiry thresholds in days (default 90, 60, 30, 14, 7, 1). */
  expiryThresholdsDays: number[];
  /** The IVR profile the azure flow assigns uploads to. */
  defaultIvrProfile: string;
}

/** Everything a use case needs, passed in (no globals, no container). */
export interface CoreDeps {
  repo: CertificateRepository;
  custody: KeyCustody;
  events: EventPublisher;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  config: CoreConfig;
  /** The escrow certificate and escrow copies (every runtime's repository provides it). */
  escrow?: EscrowStore;
  notificationSink?: NotificationSink;
  /** Where the expiry scan leaves webhook deliveries, when a webhook is configured. */
  noticeOutbox?: NoticeOutbox;
}

/** Who did it, as written to the audit trail. */
export type Actor = Pick<Principal, 'subject'>;

const MAX_ATTEMPTS = 12;

/**
 * Runs a read-modify-write until its conditional write lands. Lost races are retried with a
 * small jittered back-off; if the record keeps changing, the caller gets a 503 to retry later.
 */
export async function retryOnConflict<T>(operation: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!(error instanceof ConcurrencyConflict)) throw error;
      if (attempt >= MAX_ATTEMPTS) {
        throw new UnavailableError('The tenant is being changed by many requests at once; retry shortly.', {
          cause: error,
          retryAfterSeconds: 1,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
    }
  }
}

/** Wraps a dependency failure (not one of our own errors) as a retryable 503. */
export function asUnavailable(error: unknown, what: string): unknown {
  if (codeOf(error) !== undefined) return error;
  return new UnavailableError(`${what} failed; nothing was changed. Retry shortly.`, { cause: error });
}

const RECORD_ATTEMPTS = 3;

async function withRetries(write: () => Promise<void>): Promise<unknown> {
  let failure: unknown;
  for (let attempt = 1; attempt <= RECORD_ATTEMPTS; attempt++) {
    try {
      await write();
      return undefined;
    } catch (error) {
      failure = error;
      if (attempt < RECORD_ATTEMPTS)
        await new Promise((resolve) => setTimeout(resolve, 25 * 4 ** (attempt - 1)));
    }
  }
  return failure;
}

/**
 * Leaves the trail of a change that is already committed: its audit entry, then its events.
 * The change stands whatever happens here, so a failure must not reach the caller as "nothing
 * was changed" (a retry would then answer 404 or do nothing). Each write is retried briefly;
 * whatever still cannot be written goes to the error log in full, for an operator to replay.
 * Neither audit entries nor events ever hold key material, so logging them is safe.
 */
export async function recordCommittedChange(
  deps: CoreDeps,
  audit: AuditEntry | undefined,
  events: DomainEvent[],
): Promise<void> {
  if (audit) {
    const failure = await withRetries(() => deps.repo.appendAudit(audit));
    if (failure) {
      deps.logger.error('audit entry not stored; replay it from this log line', {
        auditEntry: audit,
        error: String(failure),
      });
    }
  }
  if (events.length > 0) {
    const failure = await withRetries(() => deps.events.publish(events));
    if (failure) {
      deps.logger.error('events not published; replay them from this log line', {
        events,
        error: String(failure),
      });
    }
  }
}
