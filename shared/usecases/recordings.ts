/** Playback: decrypting a recording through key custody (DESIGN section 6). */
import { PassThrough, type Readable } from 'node:stream';
import type { CertificateRecord } from '../domain/types';
import { AppError, ValidationError } from '../errors';
import type { KeyReference } from '../ports';
import { type DecryptResult, decryptStream, type RecipientId, type SessionKeyUnwrapper } from '../recording';
import { type Actor, type CoreDeps, recordCommittedChange } from './deps';

function unwrapperFor(
  deps: CoreDeps,
  records: CertificateRecord[],
): SessionKeyUnwrapper & { used?: CertificateRecord } {
  const unwrapper: SessionKeyUnwrapper & { used?: CertificateRecord } = {
    async unwrap(recipient: RecipientId, wrappedKey: Buffer): Promise<Buffer> {
      const record = records.find(
        (r) => r.serialNumber === recipient.serialHex && issuerMatches(r, recipient),
      );
      if (!record) {
        throw new ValidationError(
          'NO_MATCHING_KEY',
          "None of this tenant's certificates is a recipient of this recording.",
        );
      }
      const ref: KeyReference = { tenantId: record.tenantId, certificateId: record.id, alias: record.alias };
      unwrapper.used = record;
      return deps.custody.unwrapKey(ref, record.keyRef, wrappedKey);
    },
  };
  return unwrapper;
}

function issuerMatches(record: CertificateRecord, recipient: RecipientId): boolean {
  // The decryptor already restricted recipients to our certificates' issuer+serial; the serial
  // alone picks the record, the issuer check guards against two issuers reusing a serial.
  const der = Buffer.from(record.certificatePem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  return der.includes(recipient.issuerDer);
}

export interface DecryptSession {
  plaintext: Readable;
  /** Resolves once the whole input authenticated; rejects (and the plaintext errors) otherwise. */
  completed: Promise<DecryptResult>;
}

/**
 * Starts decrypting a CMS recording with the tenant's keys. Resolves once the header was read
 * and the session key unwrapped (so NOT_CMS and NO_MATCHING_KEY come back as errors before any
 * plaintext); the plaintext then streams, and `completed` tells whether it was genuine. Every
 * call is audited, whatever its outcome.
 */
export async function decryptRecording(
  deps: CoreDeps,
  actor: Actor,
  tenantId: string,
  input: Readable,
): Promise<DecryptSession> {
  const records = await deps.repo.listCertificates(tenantId);
  if (records.length === 0) {
    input.resume();
    await audit(deps, actor, tenantId, undefined, 'failed', 'NO_MATCHING_KEY');
    throw new ValidationError(
      'NO_MATCHING_KEY',
      'This tenant has no certificates, so no recording can be decrypted.',
    );
  }
  const unwrapper = unwrapperFor(deps, records);
  // The decryptor destroys its input when it gives up; keep that from tearing down the caller's
  // stream (an HTTP request whose connection must still carry the error response).
  const feed = new PassThrough();
  input.pipe(feed);
  feed.once('close', () => {
    input.unpipe(feed);
    input.resume();
  });
  const { plaintext, completed } = decryptStream(feed, unwrapper, {
    certificates: records.map((r) => r.certificatePem),
  });
  // Failures surface through `completed`; the stream's own error event must not go unhandled.
  plaintext.on('error', () => undefined);
  completed.then(
    (result) => audit(deps, actor, tenantId, unwrapper.used?.id, 'decrypted', undefined, result.bytesOut),
    (error: unknown) =>
      audit(
        deps,
        actor,
        tenantId,
        unwrapper.used?.id,
        'failed',
        error instanceof AppError ? error.code : 'ERROR',
      ),
  );
  // Answer only once plaintext is ready (or everything settled), so early failures are 4xx.
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (then: () => void) => {
      if (settled) return;
      settled = true;
      plaintext.off('readable', onReadable);
      then();
    };
    const onReadable = () => finish(resolve);
    plaintext.once('readable', onReadable);
    completed.then(
      () => finish(resolve),
      (error: unknown) => finish(() => reject(error)),
    );
  });
  return { plaintext, completed };
}

async function audit(
  deps: CoreDeps,
  actor: Actor,
  tenantId: string,
  certificateId: string | undefined,
  outcome: 'decrypted' | 'failed',
  code?: string,
  bytes?: number,
): Promise<void> {
  await recordCommittedChange(
    deps,
    {
      id: deps.ids.newId(),
      tenantId,
      at: deps.clock.now().toISOString(),
      actor: actor.subject,
      action: 'recording.decrypt',
      ...(certificateId ? { certificateId } : {}),
      details: { outcome, ...(code ? { code } : {}), ...(bytes !== undefined ? { bytes } : {}) },
    },
    [],
  );
}
