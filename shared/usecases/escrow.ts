/**
 * Escrow and key backup (DESIGN rule 15, section 10): the tenant registers an escrow certificate
 * whose private key it keeps offline; every key the service holds is also sealed to it (CMS
 * AuthEnvelopedData of the PKCS#8 DER, as recordings are), and the tenant can download a backup
 * of all its certificates and keys that only its escrow key opens.
 *
 * Keys are opened only where custody lets them go (`KeyCustody.exportKey`: local and AWS) and
 * only to be sealed at once; the DER is wiped afterwards. Nothing here logs key material or puts
 * it into an audit entry.
 */
import { Readable } from 'node:stream';
import { profilesOf } from '../domain/assignments';
import { activeProfiles, certificateStatus } from '../domain/expiry';
import type { CertificateRecord, EscrowCertificate, EscrowCopy } from '../domain/types';
import { AppError, ConflictError, isRefusal, NotFoundError, ValidationError } from '../errors';
import { type BackupEntry, formatBackupBundle } from '../escrow/backup-bundle';
import { validateUploadAsync } from '../pki/validate';
import type { EscrowStore, KeyReference } from '../ports';
import { createEncryptStream } from '../recording/encryptor';
import { type Actor, asUnavailable, type CoreDeps, recordCommittedChange } from './deps';
import { auditEntry } from './trail';

/** What PUT and GET escrow-certificate answer (DESIGN section 4). */
export interface EscrowStatus {
  fingerprintSha256: string;
  subjectDN: string;
  notAfter: string;
  /** How many of the tenant's keys are escrowed to this certificate now. */
  escrowedKeys: number;
  notEscrowed: { certificateId: string; reason: string }[];
}

/** Keys sealed at once while re-escrowing: bounds the memory and the custody calls in flight. */
const ESCROW_BATCH = 8;

/**
 * Seals `plaintext` to one certificate: CMS AuthEnvelopedData, DER, AES-256-GCM content and an
 * RSA-OAEP-SHA256 wrapped session key (what `openssl cms -decrypt` opens).
 */
export async function sealToCertificate(certificatePem: string, plaintext: Buffer): Promise<Buffer> {
  const encryptor = createEncryptStream([certificatePem], { contentLength: plaintext.length });
  const chunks: Buffer[] = [];
  for await (const chunk of Readable.from([plaintext]).pipe(encryptor)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function escrowStore(deps: CoreDeps): EscrowStore {
  // Every runtime wires one; a missing store is a wiring bug, answered 503 and logged.
  if (!deps.escrow) throw new Error('reccert: no escrow store is wired into this runtime.');
  return deps.escrow;
}

function keyReference(record: CertificateRecord): KeyReference {
  return { tenantId: record.tenantId, certificateId: record.id, alias: record.alias };
}

function shortFingerprint(fingerprint: string): string {
  return `${fingerprint.slice(0, 16)}…`;
}

/** Why a key has no escrow copy for the current escrow certificate, in words an administrator acts on. */
function notEscrowedReason(exportable: boolean, copy: EscrowCopy | undefined): string {
  if (exportable) {
    return 'No escrow copy is held for this key yet (it was uploaded while the escrow certificate was being registered, or its stored key could not be read). Register the escrow certificate again to escrow it.';
  }
  if (copy) {
    return `Its escrow copy is sealed to an earlier escrow certificate (SHA-256 ${shortFingerprint(copy.escrowFingerprintSha256)}): the key is held in Azure Key Vault as non-exportable, so it cannot be sealed to the new one. Keep that earlier escrow key, or upload a new certificate and key now.`;
  }
  return 'The key is held in Azure Key Vault as non-exportable and was uploaded before an escrow certificate was registered, so no escrow copy could be made. Keep your own copy of this key, or upload a new certificate and key now (it will be escrowed).';
}

function statusOf(
  escrow: EscrowCertificate,
  records: CertificateRecord[],
  copies: Map<string, EscrowCopy>,
  exportable: boolean,
  unreadable: Map<string, string>,
): EscrowStatus {
  let escrowedKeys = 0;
  const notEscrowed: EscrowStatus['notEscrowed'] = [];
  for (const record of records) {
    const copy = copies.get(record.id);
    if (copy?.escrowFingerprintSha256 === escrow.fingerprintSha256) {
      escrowedKeys++;
      continue;
    }
    notEscrowed.push({
      certificateId: record.id,
      reason: unreadable.get(record.id) ?? notEscrowedReason(exportable, copy),
    });
  }
  return {
    fingerprintSha256: escrow.fingerprintSha256,
    subjectDN: escrow.subjectDN,
    notAfter: escrow.notAfter,
    escrowedKeys,
    notEscrowed,
  };
}

async function copiesOf(store: EscrowStore, tenantId: string): Promise<Map<string, EscrowCopy>> {
  return new Map((await store.listEscrowCopies(tenantId)).map((c) => [c.certificateId, c]));
}

/**
 * The key's PKCS#8 DER from custody, or the reason it cannot be read (a refusal such as a key
 * that is no longer held). A failure of custody itself is thrown (503: retry).
 */
async function exportedKey(deps: CoreDeps, record: CertificateRecord): Promise<Buffer | string> {
  try {
    return await deps.custody.exportKey!(keyReference(record), record.keyRef);
  } catch (error) {
    if (isRefusal(error) || (error instanceof AppError && error.code === 'INTERNAL_ERROR')) {
      return `Its stored key could not be read (${(error as Error).message}).`;
    }
    throw asUnavailable(error, 'Reading a stored key');
  }
}

/** Seals `pkcs8Der` to the escrow certificate and stores the copy; the DER is left to the caller. */
async function storeEscrowCopy(
  deps: CoreDeps,
  escrow: EscrowCertificate,
  certificateId: string,
  pkcs8Der: Buffer,
): Promise<void> {
  const cms = await sealToCertificate(escrow.certificatePem, pkcs8Der);
  await escrowStore(deps).putEscrowCopy({
    tenantId: escrow.tenantId,
    certificateId,
    escrowFingerprintSha256: escrow.fingerprintSha256,
    cms,
    sealedAt: deps.clock.now().toISOString(),
  });
}

/**
 * Upload step: when the tenant has an escrow certificate, seals the new key to it and stores the
 * copy, before custody gets the key (on Azure it never comes out of the vault again). Returns
 * whether a copy was written, so a failed upload can remove it.
 */
export async function escrowUploadedKey(
  deps: CoreDeps,
  tenantId: string,
  certificateId: string,
  pkcs8Der: Buffer,
): Promise<boolean> {
  if (!deps.escrow) return false;
  const escrow = await deps.escrow.getEscrowCertificate(tenantId);
  if (!escrow) return false;
  await storeEscrowCopy(deps, escrow, certificateId, pkcs8Der);
  return true;
}

/** The tenant's escrow certificate and what is escrowed to it; 404 when none is registered. */
export async function getEscrowStatus(deps: CoreDeps, tenantId: string): Promise<EscrowStatus> {
  const store = escrowStore(deps);
  const escrow = await store.getEscrowCertificate(tenantId);
  if (!escrow) throw new NotFoundError('escrowCertificate', tenantId);
  const [records, copies] = await Promise.all([
    deps.repo.listCertificates(tenantId),
    copiesOf(store, tenantId),
  ]);
  return statusOf(escrow, records, copies, deps.custody.exportKey !== undefined, new Map());
}

/**
 * Registers (or replaces) the escrow certificate after the upload's certificate rules (1, 2, 4,
 * 5), then escrows every key already held where custody can open it. Running it again is safe:
 * keys already sealed to this certificate are left as they are.
 */
export async function registerEscrowCertificate(
  deps: CoreDeps,
  actor: Actor,
  tenantId: string,
  input: { certificate: string },
): Promise<EscrowStatus> {
  const store = escrowStore(deps);
  const now = deps.clock.now();
  const validated = await validateUploadAsync(
    { certificate: input.certificate },
    { flow: deps.config.flow, now, requirePrivateKey: false },
  );
  if (validated.privateKey) {
    throw new ValidationError(
      'VALIDATION_ERROR',
      'Send the escrow certificate alone: its private key must stay with you, offline, and never be sent to the service.',
      { details: { field: 'certificate' } },
    );
  }
  const escrow: EscrowCertificate = {
    tenantId,
    certificatePem: validated.certificatePem,
    fingerprintSha256: validated.details.fingerprintSha256,
    subjectDN: validated.details.subjectDN,
    notAfter: validated.details.notAfter,
    registeredAt: now.toISOString(),
    registeredBy: actor.subject,
  };
  const previous = await store
    .getEscrowCertificate(tenantId)
    .catch((e) => Promise.reject(asUnavailable(e, 'Reading the escrow certificate')));
  // Stored first: an upload that starts from now on seals its key to this certificate.
  await store
    .putEscrowCertificate(escrow)
    .catch((e) => Promise.reject(asUnavailable(e, 'Storing the escrow certificate')));

  const [records, copies] = await Promise.all([
    deps.repo.listCertificates(tenantId),
    copiesOf(store, tenantId),
  ]);
  const unreadable = new Map<string, string>();
  if (deps.custody.exportKey) {
    const due = records.filter((r) => copies.get(r.id)?.escrowFingerprintSha256 !== escrow.fingerprintSha256);
    for (let i = 0; i < due.length; i += ESCROW_BATCH) {
      await Promise.all(
        due.slice(i, i + ESCROW_BATCH).map(async (record) => {
          const key = await exportedKey(deps, record);
          if (typeof key === 'string') {
            unreadable.set(record.id, key);
            return;
          }
          try {
            await storeEscrowCopy(deps, escrow, record.id, key);
          } catch (error) {
            throw asUnavailable(error, 'Escrowing a stored key');
          } finally {
            key.fill(0);
          }
          copies.set(record.id, {
            tenantId,
            certificateId: record.id,
            escrowFingerprintSha256: escrow.fingerprintSha256,
            cms: Buffer.alloc(0),
            sealedAt: now.toISOString(),
          });
        }),
      );
    }
  }
  const status = statusOf(escrow, records, copies, deps.custody.exportKey !== undefined, unreadable);
  await recordCommittedChange(
    deps,
    auditEntry(deps, {
      tenantId,
      at: now.toISOString(),
      actor: actor.subject,
      action: 'escrow.register',
      details: {
        fingerprintSha256: escrow.fingerprintSha256,
        subjectDN: escrow.subjectDN,
        replacedFingerprintSha256: previous?.fingerprintSha256 ?? null,
        escrowedKeys: status.escrowedKeys,
        notEscrowed: status.notEscrowed.map((n) => n.certificateId),
      },
    }),
    [],
  );
  return status;
}

/** A key backup, ready to send: CMS AuthEnvelopedData (DER) for the escrow certificate. */
export interface KeyBackup {
  cms: Buffer;
  certificates: number;
  keys: number;
}

/**
 * Builds the tenant's key backup (DESIGN section 10): every certificate, expired and retired ones
 * included, with its key where the service can give it, in the bundle format of
 * shared/escrow/backup-bundle.ts, sealed to the escrow certificate. The download is audited
 * before anything is returned; when the audit entry cannot be written nothing is sent (503).
 */
export async function keyBackup(
  deps: CoreDeps,
  actor: Actor,
  tenantId: string,
  options: { maxBytes?: number } = {},
): Promise<KeyBackup> {
  const store = escrowStore(deps);
  const escrow = await store.getEscrowCertificate(tenantId);
  if (!escrow) {
    throw new ConflictError(
      'NO_ESCROW_CERTIFICATE',
      `No escrow certificate is registered for tenant '${tenantId}'. Register one first (PUT /v1/tenants/{tenantId}/escrow-certificate, or reccert escrow set); the backup is sealed to it.`,
      { details: { tenantId } },
    );
  }
  const now = deps.clock.now();
  const [records, assignments, copies] = await Promise.all([
    deps.repo.listCertificates(tenantId),
    deps.repo.getAssignments(tenantId),
    copiesOf(store, tenantId),
  ]);
  const state = assignments.state;
  const exportable = deps.custody.exportKey !== undefined;
  const secrets: Buffer[] = [];
  let text: Buffer | undefined;
  let keys = 0;
  try {
    const entries: BackupEntry[] = [];
    for (const record of records) {
      const entry: BackupEntry = {
        certificateId: record.id,
        alias: record.alias,
        status: certificateStatus(record, state, now),
        notAfter: record.notAfter,
        activeIn: {
          ivrProfiles: activeProfiles(state, record.id),
          screenRecording: state.screen.certificateIds.includes(record.id),
        },
        certificatePem: record.certificatePem,
      };
      const copy = copies.get(record.id);
      if (exportable) {
        const key = await exportedKey(deps, record);
        if (typeof key === 'string') entry.notEscrowedReason = key;
        else {
          secrets.push(key);
          entry.privateKeyDer = key;
          keys++;
        }
      } else if (copy) {
        entry.escrowCopyCms = copy.cms;
        entry.escrowCopyFingerprintSha256 = copy.escrowFingerprintSha256;
        if (copy.escrowFingerprintSha256 === escrow.fingerprintSha256) keys++;
      } else {
        entry.notEscrowedReason = notEscrowedReason(false, undefined);
      }
      entries.push(entry);
    }
    text = Buffer.from(
      formatBackupBundle({
        tenantId,
        createdAt: now.toISOString(),
        profiles: profilesOf(state).map((p) => ({
          profileId: p.id,
          activeCertificateId: p.activeCertificateId,
          previousCertificateIds: p.previousCertificateIds,
        })),
        screenRecordingCertificateIds: state.screen.certificateIds,
        entries,
      }),
      'utf8',
    );
    const cms = await sealToCertificate(escrow.certificatePem, text);
    if (options.maxBytes !== undefined && cms.length > options.maxBytes) {
      throw new AppError(
        'PAYLOAD_TOO_LARGE',
        `The backup is ${cms.length} bytes, more than this deployment can answer (${options.maxBytes}). Download it from a runtime without that limit, or open a support case.`,
        { details: { bytes: cms.length, maxBytes: options.maxBytes } },
      );
    }
    await deps.repo
      .appendAudit(
        auditEntry(deps, {
          tenantId,
          actor: actor.subject,
          action: 'escrow.backup',
          details: {
            escrowFingerprintSha256: escrow.fingerprintSha256,
            certificates: records.length,
            keys,
          },
        }),
      )
      .catch((e) => Promise.reject(asUnavailable(e, 'Recording the backup download')));
    return { cms, certificates: records.length, keys };
  } finally {
    for (const secret of secrets) secret.fill(0);
    text?.fill(0);
  }
}
