/**
 * Playback: decrypting a recording through key custody (DESIGN section 6, rule 13).
 *
 * The whole recording is decrypted and its GCM tag verified before a single plaintext byte is
 * handed out; meanwhile the plaintext waits in a sealed spool (memory, then a file sealed under
 * a one-time key). The playback is audited after the verification and before the plaintext is
 * returned, so whatever the client does afterwards the trail has it; if that audit entry
 * cannot be stored, nothing is released. Every other outcome is audited too.
 */
import type { Duplex, Readable } from 'node:stream';
import type { AuditEntry, CertificateRecord } from '../domain/types';
import { AppError, codeOf, UnavailableError, ValidationError } from '../errors';
import type { KeyReference } from '../ports';
import { createDecryptStream, type MatchedRecipient, type SessionKeyUnwrapper } from '../recording';
import { SealedSpool } from '../recording/sealed-spool';
import { type Actor, type CoreDeps, recordCommittedChange } from './deps';
import { auditEntry } from './trail';

/**
 * Most plaintext one playback may hold while it is verified (memory and sealed temporary file):
 * a few hours of stereo WAV, and a bound on the disk one request can take.
 */
export const MAX_RECORDING_BYTES = 4 * 1024 ** 3;

/** The audit code of a playback whose client went away before its recording was in. */
const CLIENT_ABORTED = 'CLIENT_ABORTED';

/**
 * Unwraps through custody with the record of the certificate the decryptor matched (it is given
 * the records' certificates, in order); `tried` is the last record it tried, for the audit trail.
 * The playback here and the batch engines (functions/aws/handlers/recording-batch.ts) share it.
 */
export function unwrapperFor(
  deps: CoreDeps,
  records: CertificateRecord[],
): SessionKeyUnwrapper & { tried?: CertificateRecord } {
  const unwrapper: SessionKeyUnwrapper & { tried?: CertificateRecord } = {
    async unwrap(recipient: MatchedRecipient, wrappedKey: Buffer): Promise<Buffer> {
      const record = recordOf(records, recipient);
      if (!record) {
        throw new ValidationError(
          'NO_MATCHING_KEY',
          "None of this tenant's certificates is a recipient of this recording.",
        );
      }
      const ref: KeyReference = { tenantId: record.tenantId, certificateId: record.id, alias: record.alias };
      unwrapper.tried = record;
      return deps.custody.unwrapKey(ref, record.keyRef, wrappedKey);
    },
  };
  return unwrapper;
}

export function recordOf(
  records: CertificateRecord[],
  recipient: MatchedRecipient,
): CertificateRecord | undefined {
  return recipient.certificate === undefined ? undefined : records[recipient.certificate];
}

/** Limits of the runtime serving the playback. */
export interface PlaybackLimits {
  /**
   * Most plaintext bytes the runtime can return (a buffered response: Lambda's 6 MB payload).
   * A genuine recording over it is `PAYLOAD_TOO_LARGE`; default `MAX_RECORDING_BYTES`.
   */
  maxPlaintextBytes?: number;
}

/** A verified, audited playback. */
export interface Playback {
  /** The plaintext, to be read once; destroying it releases what the spool kept. */
  plaintext: Readable;
  /** Its length in bytes. */
  bytes: number;
  /**
   * Resolves once `plaintext` was read to its end; rejects when reading it failed (the sealed
   * spool was damaged or vanished) or it was destroyed first. A runtime aborts the response then.
   */
  delivered: Promise<void>;
}

/**
 * Decrypts a CMS recording with the tenant's keys and verifies it completely before returning
 * its plaintext. Errors: NOT_CMS, TOO_MANY_RECIPIENTS, NO_MATCHING_KEY, INTEGRITY_CHECK_FAILED,
 * PAYLOAD_TOO_LARGE (over `limits`), SERVICE_UNAVAILABLE (custody down, or the audit entry
 * could not be stored). Every call is audited, whatever its outcome, before it returns.
 */
export async function decryptRecording(
  deps: CoreDeps,
  actor: Actor,
  tenantId: string,
  input: Readable,
  limits: PlaybackLimits = {},
): Promise<Playback> {
  const maxBytes = Math.min(limits.maxPlaintextBytes ?? MAX_RECORDING_BYTES, MAX_RECORDING_BYTES);
  const records = await deps.repo.listCertificates(tenantId);
  if (records.length === 0) {
    input.resume();
    await audit(deps, actor, tenantId, undefined, {
      outcome: 'failed',
      code: 'NO_MATCHING_KEY',
      bytesReceived: 0,
      unwrapAttempts: 0,
    });
    throw new ValidationError(
      'NO_MATCHING_KEY',
      'This tenant has no certificates, so no recording can be decrypted.',
    );
  }
  const unwrapper = unwrapperFor(deps, records);
  const decryptor = createDecryptStream(unwrapper, { certificates: records.map((r) => r.certificatePem) });
  const spool = new SealedSpool({ maxBytes });
  const received = { bytes: 0 };

  try {
    await spoolVerified(input, decryptor, spool, received);
  } catch (error) {
    const code = codeOf(error) ?? (error as { auditCode?: string }).auditCode;
    await audit(deps, actor, tenantId, unwrapper.tried?.id, {
      outcome: 'failed',
      code: code ?? 'ERROR',
      bytesReceived: received.bytes,
      unwrapAttempts: decryptor.unwrapAttempts,
    });
    throw error;
  }

  const result = await decryptor.completed;
  const certificateId = recordOf(records, result.recipient)?.id;
  if (spool.overflowed) {
    await spool.release();
    await audit(deps, actor, tenantId, certificateId, {
      outcome: 'failed',
      code: 'PAYLOAD_TOO_LARGE',
      bytesReceived: received.bytes,
      unwrapAttempts: result.unwrapAttempts,
    });
    throw new AppError(
      'PAYLOAD_TOO_LARGE',
      `The recording is genuine but decrypts to ${result.bytesOut} bytes; this deployment returns at most ${maxBytes} bytes per playback. Play it back where responses stream (the local runtime) or with the tenant's key offline.`,
      { details: { bytes: result.bytesOut, maxBytes } },
    );
  }
  try {
    await auditOrThrow(
      deps,
      playbackEntry(deps, actor, tenantId, certificateId, {
        outcome: 'decrypted',
        bytes: result.bytesOut,
        unwrapAttempts: result.unwrapAttempts,
      }),
    );
  } catch (error) {
    await spool.release();
    throw error;
  }
  const { body, delivered } = deliverSpool(spool);
  return { plaintext: body, bytes: result.bytesOut, delivered };
}

/** A stream stage (decryptor, rewrapper) whose `completed` settles once its input proved genuine. */
export type VerifyingStage = Duplex & { completed: Promise<unknown> };

/**
 * Pipes `input` through `stage` into `spool` and resolves once the stage verified all of it;
 * `received` counts the bytes that came in. On any failure it stops, keeps nothing (the spool is
 * released) and rethrows; the input is drained, not destroyed, so the connection can still carry
 * the error response.
 */
export async function spoolVerified(
  input: Readable,
  stage: VerifyingStage,
  spool: SealedSpool,
  received: { bytes: number },
): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        reject(error);
      };
      stage.completed.catch(fail);
      // Failures surface through `completed`; these events must not go unhandled.
      stage.on('error', () => undefined);
      spool.on('error', fail);
      input.once('error', (cause) => fail(clientAborted(cause)));
      input.once('close', () => {
        if (!input.readableEnded) fail(clientAborted());
      });
      spool.once('finish', () => {
        stage.completed.then(() => {
          if (settled) return;
          settled = true;
          resolve();
        }, fail);
      });
      input.pipe(stage).pipe(spool);
      // Only now: a 'data' listener starts the flow, which must not begin before the pipe.
      input.on('data', (chunk: Buffer) => {
        received.bytes += chunk.length;
      });
    });
  } catch (error) {
    input.unpipe(stage);
    if (!input.destroyed) input.resume();
    stage.destroy();
    await spool.release();
    throw error;
  }
}

/**
 * The spooled result as a stream to be read once, and a promise that settles when it was read to
 * its end (rejects when reading failed or it was abandoned first).
 */
export function deliverSpool(spool: SealedSpool): { body: Readable; delivered: Promise<void> } {
  const body = spool.reader();
  const delivered = new Promise<void>((resolve, reject) => {
    body.once('end', resolve);
    body.once('error', reject);
    body.once('close', () => {
      if (!body.readableEnded) reject(new Error('The response was abandoned before its end.'));
    });
  });
  delivered.catch(() => undefined);
  return { body, delivered };
}

function clientAborted(cause?: unknown): Error {
  return Object.assign(new Error('The client went away before the whole recording arrived.', { cause }), {
    auditCode: CLIENT_ABORTED,
  });
}

type PlaybackDetails =
  | { outcome: 'decrypted'; bytes: number; unwrapAttempts: number }
  | { outcome: 'failed'; code: string; bytesReceived: number; unwrapAttempts: number };

/** Audits an outcome that is not a release: best effort, a failure goes to the error log. */
async function audit(
  deps: CoreDeps,
  actor: Actor,
  tenantId: string,
  certificateId: string | undefined,
  details: PlaybackDetails,
): Promise<void> {
  await recordCommittedChange(deps, playbackEntry(deps, actor, tenantId, certificateId, details), []);
}

function playbackEntry(
  deps: CoreDeps,
  actor: Actor,
  tenantId: string,
  certificateId: string | undefined,
  details: PlaybackDetails,
): AuditEntry {
  return auditEntry(deps, {
    tenantId,
    actor: actor.subject,
    action: 'recording.decrypt',
    ...(certificateId ? { certificateId } : {}),
    details,
  });
}

const AUDIT_ATTEMPTS = 3;

/** Stores the audit entry of a release, or throws: no plaintext leaves unaudited. */
export async function auditOrThrow(deps: CoreDeps, entry: AuditEntry, what = 'playback'): Promise<void> {
  let failure: unknown;
  for (let attempt = 1; attempt <= AUDIT_ATTEMPTS; attempt++) {
    try {
      await deps.repo.appendAudit(entry);
      return;
    } catch (error) {
      failure = error;
      if (attempt < AUDIT_ATTEMPTS) await new Promise((r) => setTimeout(r, 25 * 4 ** (attempt - 1)));
    }
  }
  deps.logger.error(`${what} not audited, so not released`, { auditEntry: entry, error: String(failure) });
  throw new UnavailableError(`The ${what} could not be audited, so it was not sent. Retry shortly.`, {
    cause: failure,
  });
}
