/**
 * Test data for the port contracts. Records are metadata only: the PEM text is a stand-in, since
 * repositories store it as an opaque string and never parse it.
 */
import crypto from 'node:crypto';
import type { AuditEntry, CertificateRecord, ExpiryNotification } from '../../shared/domain/types';

/** A unique tenant id per call, so contracts also hold on a store shared between tests. */
export function uniqueTenantId(prefix = 'tenant'): string {
  return `${prefix}-${crypto.randomBytes(6).toString('hex')}`;
}

/** A complete, valid `CertificateRecord`; `overrides` replace any field. */
export function makeRecord(overrides: Partial<CertificateRecord> = {}): CertificateRecord {
  const id = overrides.id ?? crypto.randomUUID();
  return {
    tenantId: 'tenant-a',
    id,
    alias: `rec-${id.slice(0, 8)}`,
    certificatePem: '-----BEGIN CERTIFICATE-----\nTUVUQURBVEEtT05MWQ==\n-----END CERTIFICATE-----\n',
    subjectName: 'recording.example.com',
    serialNumber: '0A1B2C3D4E5F',
    subjectDN: 'CN=recording.example.com,O=Example,ST=Bavaria,C=DE',
    issuerDN: 'CN=recording.example.com,O=Example,ST=Bavaria,C=DE',
    notBefore: '2025-01-01T00:00:00.000Z',
    notAfter: '2027-01-01T00:00:00.000Z',
    keyAlgorithm: 'RSA',
    keySize: 2048,
    fingerprintSha256: crypto.createHash('sha256').update(id).digest('hex'),
    selfSigned: true,
    uploadedAt: '2025-06-01T12:00:00.000Z',
    uploadedBy: 'admin@example.com',
    warnings: [],
    keyRef: `${id}.0123456789abcdef`,
    nextNotifyAt: '2026-10-03T00:00:00.000Z',
    notifiedThresholdDays: null,
    ...overrides,
  };
}

/** An expiry notification; `overrides` replace any field. */
export function makeNotification(overrides: Partial<ExpiryNotification> = {}): ExpiryNotification {
  return {
    tenantId: 'tenant-a',
    certificateId: crypto.randomUUID(),
    kind: 'expiring',
    thresholdDays: 30,
    notAfter: '2027-01-01T00:00:00.000Z',
    createdAt: '2026-12-02T00:00:00.000Z',
    activeIn: { ivrProfiles: ['record'], screenRecording: false },
    replacementAvailable: false,
    ...overrides,
  };
}

/** An audit entry; `overrides` replace any field. */
export function makeAuditEntry(overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    id: crypto.randomUUID(),
    tenantId: 'tenant-a',
    at: '2026-01-01T00:00:00.000Z',
    actor: 'admin@example.com',
    action: 'certificate.upload',
    ...overrides,
  };
}
