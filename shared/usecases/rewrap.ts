/**
 * Rewrap through key custody (DESIGN section 10): a recording in, the same recording for other
 * certificates of the tenant out. Custody unwraps the session key once; the rewrapped recording
 * (ciphertext) waits in a sealed spool until its tag verified, the rewrap is audited, and only
 * then is the first byte sent, the shape of playback (recordings.ts).
 */
import type { Readable } from 'node:stream';
import type { AuditEntry, CertificateRecord } from '../domain/types';
import { AppError, codeOf } from '../errors';
import { createRewrapStream } from '../recording';
import { SealedSpool } from '../recording/sealed-spool';
import { type Actor, type CoreDeps, recordCommittedChange } from './deps';
import {
  auditOrThrow,
  deliverSpool,
  MAX_RECORDING_BYTES,
  type PlaybackLimits,
  recordOf,
  spoolVerified,
  unwrapperFor,
} from './recordings';
import { type RewrapTarget, resolveRewrapTargets } from './rewrap-targets';
import { auditEntry } from './trail';

/** A rewrapped recording, verified and audited. */
export interface Rewrapped {
  /** The rewrapped recording (CMS), to be read once. */
  cms: Readable;
  bytes: number;
  /** Settles once `cms` was read to its end; rejects when that failed (abort the response). */
  delivered: Promise<void>;
}

type RewrapDetails =
  | { outcome: 'rewrapped'; to: string[]; bytes: number; unwrapAttempts: number }
  | { outcome: 'failed'; to: string[]; code: string; bytesReceived: number; unwrapAttempts: number };

function rewrapEntry(
  deps: CoreDeps,
  actor: Actor,
  tenantId: string,
  certificateId: string | undefined,
  details: RewrapDetails,
): AuditEntry {
  return auditEntry(deps, {
    tenantId,
    actor: actor.subject,
    action: 'recording.rewrap',
    ...(certificateId ? { certificateId } : {}),
    details,
  });
}

/**
 * Rewraps a CMS recording for the tenant's certificates `to` (replacing its recipients): the
 * encrypted content and tag are unchanged, and nothing is returned before the tag verified.
 * Errors: as `decryptRecording`, plus NOT_FOUND / CERTIFICATE_NOT_USABLE for a target and
 * VALIDATION_ERROR for more than `MAX_REWRAP_TARGETS` (rewrap-targets.ts). Every call is audited, whatever its
 * outcome, before it returns.
 */
export async function rewrapRecording(
  deps: CoreDeps,
  actor: Actor,
  tenantId: string,
  to: readonly string[],
  input: Readable,
  limits: PlaybackLimits = {},
): Promise<Rewrapped> {
  const maxBytes = Math.min(limits.maxPlaintextBytes ?? MAX_RECORDING_BYTES, MAX_RECORDING_BYTES);
  const requested = [...to];
  const failed = async (
    code: string,
    bytesReceived: number,
    unwrapAttempts: number,
    certificateId?: string,
  ) =>
    recordCommittedChange(
      deps,
      rewrapEntry(deps, actor, tenantId, certificateId, {
        outcome: 'failed',
        to: requested,
        code,
        bytesReceived,
        unwrapAttempts,
      }),
      [],
    );

  let targets: RewrapTarget[];
  let records: CertificateRecord[];
  try {
    targets = await resolveRewrapTargets(deps, tenantId, requested);
    records = await deps.repo.listCertificates(tenantId);
  } catch (error) {
    input.resume();
    await failed(codeOf(error) ?? 'ERROR', 0, 0);
    throw error;
  }
  const unwrapper = unwrapperFor(deps, records);
  const rewrap = createRewrapStream(unwrapper, {
    to: targets.map((t) => t.certificatePem),
    certificates: records.map((r) => r.certificatePem),
  });
  const spool = new SealedSpool({ maxBytes });
  const received = { bytes: 0 };
  try {
    await spoolVerified(input, rewrap, spool, received);
  } catch (error) {
    const code = codeOf(error) ?? (error as { auditCode?: string }).auditCode ?? 'ERROR';
    await failed(code, received.bytes, rewrap.unwrapAttempts, unwrapper.tried?.id);
    throw error;
  }

  const result = await rewrap.completed;
  const certificateId = recordOf(records, result.recipient)?.id;
  if (spool.overflowed) {
    await spool.release();
    await failed('PAYLOAD_TOO_LARGE', received.bytes, result.unwrapAttempts, certificateId);
    throw new AppError(
      'PAYLOAD_TOO_LARGE',
      `The recording is genuine but ${result.bytesOut} bytes long; this deployment returns at most ${maxBytes} bytes per response. Rewrap it where responses stream (the local runtime), with reccert rewrap, or with the cloud batch job.`,
      { details: { bytes: result.bytesOut, maxBytes } },
    );
  }
  try {
    await auditOrThrow(
      deps,
      rewrapEntry(deps, actor, tenantId, certificateId, {
        outcome: 'rewrapped',
        to: targets.map((t) => t.id),
        bytes: result.bytesOut,
        unwrapAttempts: result.unwrapAttempts,
      }),
      'rewrap',
    );
  } catch (error) {
    await spool.release();
    throw error;
  }
  const { body, delivered } = deliverSpool(spool);
  return { cms: body, bytes: result.bytesOut, delivered };
}
