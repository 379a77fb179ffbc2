/** Turning stored records into the API's objects (DESIGN section 4). */
import { activeProfiles, certificateStatus, daysUntil, EXPIRING_STATUS_DAYS } from '../domain/expiry';
import type { CertificateStatus, TenantAssignments } from '../domain/types';
import type { Warning } from '../errors';
import type { CertificateSummary } from '../ports';
import type { CoreConfig } from './deps';

export interface CertificateView {
  id: string;
  tenantId: string;
  alias: string;
  subjectName: string;
  serialNumber: string;
  subjectDN: string;
  issuerDN: string;
  notBefore: string;
  notAfter: string;
  keyAlgorithm: 'RSA';
  keySize: number;
  fingerprintSha256: string;
  selfSigned: boolean;
  status: CertificateStatus;
  uploadedAt: string;
  uploadedBy: string;
  ivrProfiles: string[];
  screenRecording: boolean;
  warnings: Warning[];
  key?: string;
}

/** Upload-time warnings, with EXPIRES_SOON recomputed for today. */
function currentWarnings(record: CertificateSummary, now: Date): Warning[] {
  const warnings = record.warnings.filter((w) => w.code !== 'EXPIRES_SOON');
  const days = daysUntil(record.notAfter, now);
  if (days < EXPIRING_STATUS_DAYS && Date.parse(record.notAfter) > now.getTime()) {
    warnings.unshift({
      code: 'EXPIRES_SOON',
      message: `The certificate expires in ${Math.max(0, days)} days (${record.notAfter}); plan its replacement now.`,
    });
  }
  return warnings;
}

export function certificateView(
  record: CertificateSummary,
  state: TenantAssignments,
  now: Date,
  config: Pick<CoreConfig, 'flow'>,
): CertificateView {
  const view: CertificateView = {
    id: record.id,
    tenantId: record.tenantId,
    alias: record.alias,
    subjectName: record.subjectName,
    serialNumber: record.serialNumber,
    subjectDN: record.subjectDN,
    issuerDN: record.issuerDN,
    notBefore: record.notBefore,
    notAfter: record.notAfter,
    keyAlgorithm: record.keyAlgorithm,
    keySize: record.keySize,
    fingerprintSha256: record.fingerprintSha256,
    selfSigned: record.selfSigned,
    status: certificateStatus(record, state, now),
    uploadedAt: record.uploadedAt,
    uploadedBy: record.uploadedBy,
    ivrProfiles: activeProfiles(state, record.id),
    screenRecording: state.screen.certificateIds.includes(record.id),
    warnings: currentWarnings(record, now),
  };
  if (config.flow === 'azure') view.key = record.keyId ?? `keystore:${record.alias}`;
  return view;
}
