/**
 * The plaintext of a key backup (DESIGN section 10): a PEM bundle that stock openssl reads, with
 * explanatory `name: value` lines before each certificate so a person (and `reccert backup
 * restore`) knows what each pair was. openssl ignores text outside PEM blocks, so the lines cost
 * nothing to `openssl x509` / `openssl pkey`.
 *
 * One home for the format: the service writes it, the CLI reads it back (backup open, restore,
 * verify-recordings --backup).
 */
import type { CertificateStatus } from '../domain/types';
import { PemError, parsePemBlocks, toPem } from '../pki/pem';

/** The first line of every bundle; a reader refuses text without it. */
export const BACKUP_MAGIC = 'reccert-backup: 1';

/** Where a certificate is in use when the backup is made (DESIGN rule 14's `activeIn`). */
export interface ActiveIn {
  ivrProfiles: string[];
  screenRecording: boolean;
}

/** One IVR profile's assignment history, so a restore can replay it in order. */
export interface ProfileHistory {
  profileId: string;
  activeCertificateId: string;
  /** Most recent first, as the profile keeps them. */
  previousCertificateIds: string[];
}

/** One certificate of the tenant, with its private key where the escrow holds one. */
export interface BackupEntry {
  certificateId: string;
  alias: string;
  status: CertificateStatus;
  notAfter: string;
  activeIn: ActiveIn;
  certificatePem: string;
  /** PKCS#8 DER of the private key; absent when it was not escrowed. */
  privateKeyDer?: Buffer;
  /** Why there is no key (for example a Key Vault key that was never exportable). */
  notEscrowedReason?: string;
  /**
   * Where the service cannot open the key itself (a non-exportable Key Vault key), its escrow
   * copy as it was sealed at upload: CMS AuthEnvelopedData (DER) of the PKCS#8 DER, to the escrow
   * certificate named by `escrowCopyFingerprintSha256`. Only the tenant's escrow key opens it.
   */
  escrowCopyCms?: Buffer;
  escrowCopyFingerprintSha256?: string;
}

export interface BackupBundle {
  tenantId: string;
  createdAt: string;
  profiles: ProfileHistory[];
  /** The screen-recording set when the backup was made. */
  screenRecordingCertificateIds: string[];
  entries: BackupEntry[];
}

/** The bundle cannot be read: not a reccert backup, or a damaged one. */
export class BackupFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackupFormatError';
  }
}

const OPEN_HINT =
  '# Open with: openssl cms -decrypt -binary -inform DER -in backup.cms -inkey escrow.key -recip escrow.pem';

// Values are ids, aliases and reasons: one line each, never something that could open a PEM block.
function line(name: string, value: string): string {
  const clean = value.replace(/[\r\n]+/g, ' ').replace(/-----/g, '- - -');
  return `${name}: ${clean}\n`;
}

function formatActiveIn(activeIn: ActiveIn): string {
  const profiles = activeIn.ivrProfiles.length > 0 ? activeIn.ivrProfiles.join(',') : '-';
  return `ivrProfiles=${profiles}; screenRecording=${activeIn.screenRecording ? 'yes' : 'no'}`;
}

/** Writes the bundle text (UTF-8 when encoded). */
export function formatBackupBundle(bundle: BackupBundle): string {
  let out = `${BACKUP_MAGIC}\n${OPEN_HINT}\n`;
  out += line('tenantId', bundle.tenantId);
  out += line('createdAt', bundle.createdAt);
  out += line('certificates', String(bundle.entries.length));
  for (const p of bundle.profiles) {
    const previous = p.previousCertificateIds.length > 0 ? p.previousCertificateIds.join(',') : '-';
    out += line('ivrProfile', `${p.profileId} active=${p.activeCertificateId} previous=${previous}`);
  }
  const screen = bundle.screenRecordingCertificateIds;
  out += line('screenRecording', screen.length > 0 ? screen.join(',') : '-');
  for (const e of bundle.entries) {
    out += '\n';
    out += line('certificateId', e.certificateId);
    out += line('alias', e.alias);
    out += line('status', e.status);
    out += line('notAfter', e.notAfter);
    out += line('activeIn', formatActiveIn(e.activeIn));
    out += line('escrowed', escrowedLine(e));
    out += e.certificatePem.endsWith('\n') ? e.certificatePem : `${e.certificatePem}\n`;
    if (e.privateKeyDer) out += toPem('PRIVATE KEY', e.privateKeyDer);
    else if (e.escrowCopyCms) out += toPem(ESCROW_COPY_LABEL, e.escrowCopyCms);
  }
  return out;
}

/** The PEM label of an escrow copy carried sealed (`openssl cms -inform PEM` reads it). */
export const ESCROW_COPY_LABEL = 'CMS';

function escrowedLine(e: BackupEntry): string {
  if (e.privateKeyDer) return 'yes';
  if (e.escrowCopyCms) {
    return `sealed (the CMS block below is sealed to escrow certificate ${e.escrowCopyFingerprintSha256 ?? 'unknown'}; open it with: openssl cms -decrypt -binary -inform PEM -inkey escrow.key -recip escrow.pem | openssl pkey -inform DER)`;
  }
  return `no (${e.notEscrowedReason ?? 'unknown'})`;
}

function list(value: string): string[] {
  return value === '-' || value === '' ? [] : value.split(',');
}

function parseActiveIn(value: string): ActiveIn {
  const m = /^ivrProfiles=([^;]*); screenRecording=(yes|no)$/.exec(value);
  if (!m) throw new BackupFormatError(`activeIn "${value}" is not in the backup's format`);
  return { ivrProfiles: list(m[1]!), screenRecording: m[2] === 'yes' };
}

const STATUSES: ReadonlySet<string> = new Set(['active', 'expiring', 'expired', 'retired']);

interface Stanza {
  fields: Map<string, string[]>;
  text: string;
}

/** Splits at blank lines; the first stanza is the tenant's, each later one a certificate's. */
function stanzas(text: string): Stanza[] {
  return text
    .replace(/\r\n/g, '\n')
    .split(/\n\s*\n/)
    .filter((s) => s.trim() !== '')
    .map((s) => {
      const fields = new Map<string, string[]>();
      for (const l of s.split('\n')) {
        if (l.startsWith('-----')) break;
        const m = /^([A-Za-z]+): (.*)$/.exec(l);
        if (!m) continue;
        const values = fields.get(m[1]!) ?? [];
        values.push(m[2]!);
        fields.set(m[1]!, values);
      }
      return { fields, text: s };
    });
}

function one(stanza: Stanza, name: string): string {
  const value = stanza.fields.get(name)?.[0];
  if (value === undefined) throw new BackupFormatError(`a backup entry has no "${name}:" line`);
  return value;
}

/**
 * Reads a bundle back. Throws {@link BackupFormatError} for text that is not a reccert backup or
 * is damaged (a missing field, a PEM block that does not decode).
 */
export function parseBackupBundle(text: string): BackupBundle {
  if (!text.startsWith(BACKUP_MAGIC)) {
    throw new BackupFormatError(
      'this is not a reccert key backup (its first line is not "reccert-backup: 1")',
    );
  }
  const [head, ...rest] = stanzas(text);
  if (!head) throw new BackupFormatError('the backup is empty');
  const profiles: ProfileHistory[] = (head.fields.get('ivrProfile') ?? []).map((v) => {
    const m = /^(\S+) active=(\S+) previous=(\S+)$/.exec(v);
    if (!m) throw new BackupFormatError(`ivrProfile "${v}" is not in the backup's format`);
    return { profileId: m[1]!, activeCertificateId: m[2]!, previousCertificateIds: list(m[3]!) };
  });
  const entries = rest.map((s): BackupEntry => {
    let blocks: ReturnType<typeof parsePemBlocks>;
    try {
      blocks = parsePemBlocks(s.text);
    } catch (error) {
      if (error instanceof PemError)
        throw new BackupFormatError(`a backup entry is damaged: ${error.message}`);
      throw error;
    }
    const cert = blocks.find((b) => b.label === 'CERTIFICATE');
    if (!cert) throw new BackupFormatError(`entry ${one(s, 'certificateId')} has no certificate`);
    const key = blocks.find((b) => b.label === 'PRIVATE KEY');
    const sealed = blocks.find((b) => b.label === ESCROW_COPY_LABEL);
    const status = one(s, 'status');
    if (!STATUSES.has(status)) throw new BackupFormatError(`status "${status}" is not a certificate status`);
    const escrowed = one(s, 'escrowed');
    const reason = /^no \((.*)\)$/.exec(escrowed)?.[1];
    const sealedTo = /^sealed \(the CMS block below is sealed to escrow certificate (\S+);/.exec(
      escrowed,
    )?.[1];
    return {
      certificateId: one(s, 'certificateId'),
      alias: one(s, 'alias'),
      status: status as CertificateStatus,
      notAfter: one(s, 'notAfter'),
      activeIn: parseActiveIn(one(s, 'activeIn')),
      certificatePem: toPem('CERTIFICATE', cert.der),
      ...(key ? { privateKeyDer: key.der } : {}),
      ...(reason !== undefined ? { notEscrowedReason: reason } : {}),
      ...(sealed && !key ? { escrowCopyCms: sealed.der } : {}),
      ...(sealed && !key && sealedTo !== undefined ? { escrowCopyFingerprintSha256: sealedTo } : {}),
    };
  });
  return {
    tenantId: one(head, 'tenantId'),
    createdAt: one(head, 'createdAt'),
    profiles,
    screenRecordingCertificateIds: list(one(head, 'screenRecording')),
    entries,
  };
}
