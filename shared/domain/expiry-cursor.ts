/**
 * A certificate's expiry cursor: when it is next due for a notice and the last threshold noticed.
 * Every repository stores the cursor apart from the rest of the record, because the expiry scan
 * compares and moves it alone (`CertificateRepository.advanceExpiryCursor`) and the due index is
 * built on it; the rest is one opaque document. This is the one place that knows the split.
 */
import type { CertificateRecord } from './types';

/** The fields of a record that the expiry scan moves. */
export type ExpiryCursor = Pick<CertificateRecord, 'nextNotifyAt' | 'notifiedThresholdDays'>;

/** A record without its cursor: what repositories store as one document. */
export type RecordWithoutCursor = Omit<CertificateRecord, keyof ExpiryCursor>;

/** Splits a record into its cursor and the rest (field order of the rest kept). */
export function splitExpiryCursor(record: CertificateRecord): {
  rest: RecordWithoutCursor;
  cursor: ExpiryCursor;
} {
  const { nextNotifyAt, notifiedThresholdDays, ...rest } = record;
  return { rest, cursor: { nextNotifyAt, notifiedThresholdDays } };
}

/** The record from its stored parts; the cursor wins over any cursor field in `rest`. */
export function joinExpiryCursor(rest: RecordWithoutCursor, cursor: ExpiryCursor): CertificateRecord {
  return {
    ...rest,
    nextNotifyAt: cursor.nextNotifyAt,
    notifiedThresholdDays: cursor.notifiedThresholdDays,
  };
}
