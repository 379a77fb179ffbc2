/**
 * A key backup on the tenant's side: opening `backup.cms` with the escrow key (the project's own
 * CMS decryptor, the plaintext kept in memory only), and the folder `reccert backup open` writes
 * (`<certificateId>.pem`, `<certificateId>.key`, `backup.json`), which `reccert backup restore`
 * reads back. The bundle text itself is read by shared/escrow/backup-bundle.ts only.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { CertificateStatus } from '../shared/domain/types';
import {
  type ActiveIn,
  type BackupBundle,
  type BackupEntry,
  BackupFormatError,
  type ProfileHistory,
  parseBackupBundle,
} from '../shared/escrow/backup-bundle';
import { PemError, parsePemBlocks, toPem } from '../shared/pki/pem';
import { createDecryptStream, PrivateKeyUnwrapper, READ_CHUNK_SIZE } from '../shared/recording';
import { EXIT, RefusedError, UsageError } from './errors';
import { fsReason, type Io, readInputFile, type StagedFile, stageFile } from './io';

/**
 * Most plaintext a backup may hold: a certificate and its key take about 4 KiB, so this is some
 * 60,000 certificates, and a damaged or hostile file cannot make the CLI take all the memory.
 */
const MAX_BACKUP_PLAINTEXT = 256 * 1024 * 1024;

/** The summary file `backup open` writes beside the keys. */
export const SUMMARY_FILE = 'backup.json';
const SUMMARY_FORMAT = 'reccert-backup-folder: 1';

/**
 * Certificate ids become file names: only the service's own shape (letters, digits, '-', '_',
 * not starting with '.'), so a backup cannot name a file outside DIR or a hidden one.
 */
const SAFE_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

function checkId(id: string): string {
  if (!SAFE_ID.test(id)) {
    throw new RefusedError('NOT_A_BACKUP', `certificate id '${id}' in the backup cannot be a file name`);
  }
  return id;
}

/** Collects the plaintext in memory, up to {@link MAX_BACKUP_PLAINTEXT}. */
class Collector extends Writable {
  readonly chunks: Buffer[] = [];
  size = 0;
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.size += chunk.length;
    if (this.size > MAX_BACKUP_PLAINTEXT) {
      done(new RefusedError('NOT_A_BACKUP', 'the decrypted content is larger than any key backup'));
      return;
    }
    this.chunks.push(chunk);
    done();
  }
}

/** The escrow key (and optionally its certificate) as given on the command line. */
export interface EscrowKeyInput {
  keyPath: string;
  certPath?: string | undefined;
  password?: string | undefined;
}

/**
 * Decrypts and parses `backup.cms`. The plaintext never touches the disk. Errors: the
 * decryptor's codes (`NOT_CMS`, `NO_MATCHING_KEY`, `INTEGRITY_CHECK_FAILED`), `KEY_MISMATCH` when
 * the escrow key is not the escrow certificate's, `NOT_A_BACKUP` when the content is not a
 * reccert key backup.
 */
export async function openBackupFile(
  io: Io,
  path: string,
  escrow: EscrowKeyInput,
  command: string,
): Promise<BackupBundle> {
  const privateKey = readInputFile(io, escrow.keyPath, 'escrow key file', command);
  const certificate =
    escrow.certPath === undefined
      ? undefined
      : readInputFile(io, escrow.certPath, 'escrow certificate', command);
  const full = resolve(io.cwd, path);
  try {
    if (!statSync(full).isFile()) throw new UsageError(`'${path}' is not a file`, command);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot read backup '${path}': ${fsReason(error)}`, command);
  }
  const unwrapper = new PrivateKeyUnwrapper({
    privateKey,
    ...(certificate === undefined ? {} : { certificate }),
    ...(escrow.password === undefined ? {} : { password: escrow.password }),
  });
  const decryptor = createDecryptStream(
    unwrapper,
    certificate === undefined ? {} : { certificates: [certificate] },
  );
  const sink = new Collector();
  try {
    await pipeline(createReadStream(full, { highWaterMark: READ_CHUNK_SIZE }), decryptor, sink);
    await decryptor.completed;
  } catch (error) {
    // What came out before a failed tag check is not trusted: drop it.
    for (const chunk of sink.chunks) chunk.fill(0);
    throw error;
  }
  const plaintext = Buffer.concat(sink.chunks);
  for (const chunk of sink.chunks) chunk.fill(0);
  let bundle: BackupBundle;
  try {
    bundle = parseBackupBundle(plaintext.toString('utf8'));
  } catch (error) {
    if (error instanceof BackupFormatError) throw new RefusedError('NOT_A_BACKUP', error.message);
    throw error;
  } finally {
    plaintext.fill(0);
  }
  // Keys the service could not open itself (Key Vault custody) come as their escrow copies,
  // sealed to the same escrow certificate: the escrow key opens them here, in memory.
  for (const entry of bundle.entries) {
    if (entry.privateKeyDer || !entry.escrowCopyCms) continue;
    entry.privateKeyDer = await openEscrowCopy(unwrapper, certificate, entry.escrowCopyCms);
  }
  return bundle;
}

/** The PKCS#8 DER inside one escrow copy (CMS AuthEnvelopedData for the escrow certificate). */
async function openEscrowCopy(
  unwrapper: PrivateKeyUnwrapper,
  certificate: string | undefined,
  cms: Buffer,
): Promise<Buffer> {
  const decryptor = createDecryptStream(
    unwrapper,
    certificate === undefined ? {} : { certificates: [certificate] },
  );
  const sink = new Collector();
  try {
    await pipeline(Readable.from([cms]), decryptor, sink);
    await decryptor.completed;
    return Buffer.concat(sink.chunks);
  } finally {
    for (const chunk of sink.chunks) chunk.fill(0);
  }
}

/** Whether an entry's key belongs to its certificate. */
export type KeyCheck = 'matches' | 'mismatch' | 'unreadable' | 'absent';

export function checkEntryKey(entry: BackupEntry): KeyCheck {
  if (!entry.privateKeyDer) return 'absent';
  try {
    const key = createPrivateKey({ key: entry.privateKeyDer, format: 'der', type: 'pkcs8' });
    return new X509Certificate(entry.certificatePem).checkPrivateKey(key) ? 'matches' : 'mismatch';
  } catch {
    return 'unreadable';
  }
}

/** One certificate in `backup.json`; no key material, only the names of the files. */
interface SummaryEntry {
  certificateId: string;
  alias: string;
  status: CertificateStatus;
  notAfter: string;
  activeIn: ActiveIn;
  certificateFile: string;
  keyFile: string | null;
  notEscrowedReason?: string;
}

interface Summary {
  format: string;
  tenantId: string;
  createdAt: string;
  profiles: ProfileHistory[];
  screenRecordingCertificateIds: string[];
  certificates: SummaryEntry[];
}

/** What `backup open` wrote, per certificate. */
export interface OpenedEntry {
  certificateId: string;
  status: CertificateStatus;
  notAfter: string;
  activeIn: ActiveIn;
  certificateFile: string;
  keyFile: string | null;
  keyCheck: KeyCheck;
  notEscrowedReason?: string;
}

function makeFolder(io: Io, dir: string): string {
  const full = resolve(io.cwd, dir);
  try {
    // A new folder is 0700 from the start; an existing one is left as it is (the files are 0600).
    mkdirSync(full, { recursive: true, mode: 0o700 });
    if (!statSync(full).isDirectory()) throw new Error('ENOTDIR');
  } catch (error) {
    throw new RefusedError('WRITE_FAILED', `cannot use '${dir}' as the output folder: ${fsReason(error)}`, {
      details: { path: dir },
    });
  }
  return full;
}

/**
 * Writes every certificate and key of `bundle` into `dir` (created 0700), all files 0600, plus
 * `backup.json`. Every file is staged first and moved into place only when all could be written,
 * so a failure leaves no half-written folder; an existing file is replaced only with `force`.
 */
export function writeBackupFolder(io: Io, bundle: BackupBundle, dir: string, force: boolean): OpenedEntry[] {
  const full = makeFolder(io, dir);
  const staged: StagedFile[] = [];
  const opened: OpenedEntry[] = [];
  const summary: Summary = {
    format: SUMMARY_FORMAT,
    tenantId: bundle.tenantId,
    createdAt: bundle.createdAt,
    profiles: bundle.profiles,
    screenRecordingCertificateIds: bundle.screenRecordingCertificateIds,
    certificates: [],
  };
  const stage = (name: string, data: string) =>
    staged.push(stageFile(io, join(full, name), data, { mode: 0o600, force }));
  try {
    for (const entry of bundle.entries) {
      const id = checkId(entry.certificateId);
      const keyCheck = checkEntryKey(entry);
      const certificateFile = `${id}.pem`;
      stage(certificateFile, entry.certificatePem);
      // A key that does not match is written all the same: it is what the escrow held, and the
      // report says what is wrong with it.
      const keyFile = entry.privateKeyDer ? `${id}.key` : null;
      if (keyFile && entry.privateKeyDer) stage(keyFile, toPem('PRIVATE KEY', entry.privateKeyDer));
      const reason =
        entry.notEscrowedReason === undefined ? {} : { notEscrowedReason: entry.notEscrowedReason };
      summary.certificates.push({
        certificateId: id,
        alias: entry.alias,
        status: entry.status,
        notAfter: entry.notAfter,
        activeIn: entry.activeIn,
        certificateFile,
        keyFile,
        ...reason,
      });
      opened.push({
        certificateId: id,
        status: entry.status,
        notAfter: entry.notAfter,
        activeIn: entry.activeIn,
        certificateFile,
        keyFile,
        keyCheck,
        ...reason,
      });
    }
    stage(SUMMARY_FILE, `${JSON.stringify(summary, null, 2)}\n`);
  } catch (error) {
    for (const file of staged) file.abort();
    throw error;
  }
  let committed = 0;
  try {
    for (const file of staged) {
      file.commit();
      committed++;
    }
  } finally {
    for (const file of staged.slice(committed + 1)) file.abort();
  }
  return opened;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function folderError(dir: string, what: string): RefusedError {
  return new RefusedError(
    'NOT_A_BACKUP',
    `'${dir}' is not a folder written by 'reccert backup open': ${what}`,
    { exitCode: EXIT.refused },
  );
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined;
}

/** Reads a folder written by {@link writeBackupFolder} back into a bundle. */
export function readBackupFolder(io: Io, dir: string, command: string): BackupBundle {
  const full = resolve(io.cwd, dir);
  const summaryPath = join(full, SUMMARY_FILE);
  let text: string;
  try {
    if (statSync(summaryPath).size > MAX_BACKUP_PLAINTEXT)
      throw folderError(dir, `${SUMMARY_FILE} is too large`);
    text = readFileSync(summaryPath, 'utf8');
  } catch (error) {
    if (error instanceof RefusedError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw folderError(dir, `it has no ${SUMMARY_FILE}`);
    throw new UsageError(`cannot read '${join(dir, SUMMARY_FILE)}': ${fsReason(error)}`, command);
  }
  let summary: unknown;
  try {
    summary = JSON.parse(text);
  } catch {
    throw folderError(dir, `${SUMMARY_FILE} is not JSON`);
  }
  if (!isObject(summary) || summary.format !== SUMMARY_FORMAT) {
    throw folderError(dir, `${SUMMARY_FILE} does not start with "format": "${SUMMARY_FORMAT}"`);
  }
  const screen = stringList(summary.screenRecordingCertificateIds);
  if (
    typeof summary.tenantId !== 'string' ||
    typeof summary.createdAt !== 'string' ||
    !Array.isArray(summary.profiles) ||
    !Array.isArray(summary.certificates) ||
    !screen
  ) {
    throw folderError(dir, `${SUMMARY_FILE} lacks tenantId, createdAt, profiles or certificates`);
  }
  const profiles = summary.profiles.map((p): ProfileHistory => {
    const previous = isObject(p) ? stringList(p.previousCertificateIds) : undefined;
    if (
      !isObject(p) ||
      typeof p.profileId !== 'string' ||
      typeof p.activeCertificateId !== 'string' ||
      !previous
    ) {
      throw folderError(dir, 'an IVR profile in it is damaged');
    }
    return {
      profileId: p.profileId,
      activeCertificateId: p.activeCertificateId,
      previousCertificateIds: previous,
    };
  });
  const entries = summary.certificates.map((c): BackupEntry => {
    if (!isObject(c) || typeof c.certificateId !== 'string' || !isObject(c.activeIn)) {
      throw folderError(dir, 'a certificate in it is damaged');
    }
    const id = checkId(c.certificateId);
    const certificatePem = readPem(io, join(full, `${id}.pem`), 'CERTIFICATE', command);
    const keyText = c.keyFile === null ? undefined : readPem(io, join(full, `${id}.key`), undefined, command);
    let privateKeyDer: Buffer | undefined;
    if (keyText !== undefined) {
      try {
        privateKeyDer = createPrivateKey(keyText).export({ format: 'der', type: 'pkcs8' });
      } catch {
        throw new RefusedError(
          'INVALID_PRIVATE_KEY',
          `'${id}.key' is not a readable unencrypted private key`,
        );
      }
    }
    return {
      certificateId: id,
      alias: typeof c.alias === 'string' ? c.alias : id,
      status: c.status as CertificateStatus,
      notAfter: typeof c.notAfter === 'string' ? c.notAfter : '',
      activeIn: {
        ivrProfiles: stringList(c.activeIn.ivrProfiles) ?? [],
        screenRecording: c.activeIn.screenRecording === true,
      },
      certificatePem,
      ...(privateKeyDer ? { privateKeyDer } : {}),
      ...(typeof c.notEscrowedReason === 'string' ? { notEscrowedReason: c.notEscrowedReason } : {}),
    };
  });
  return {
    tenantId: summary.tenantId,
    createdAt: summary.createdAt,
    profiles,
    screenRecordingCertificateIds: screen,
    entries,
  };
}

/** A PEM file of the folder (with a block labelled `label`, when given). */
function readPem(io: Io, path: string, label: string | undefined, command: string): string {
  const text = readInputFile(io, path, 'backup file', command);
  if (label !== undefined) {
    let blocks: ReturnType<typeof parsePemBlocks>;
    try {
      blocks = parsePemBlocks(text);
    } catch (error) {
      if (error instanceof PemError) throw new RefusedError('INVALID_PEM', `'${path}': ${error.message}`);
      throw error;
    }
    const block = blocks.find((b) => b.label === label);
    if (!block) throw new RefusedError('INVALID_PEM', `'${path}' holds no ${label}`);
    return toPem(label, block.der);
  }
  return text;
}
