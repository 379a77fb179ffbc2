/**
 * Key backups made in the test, as the service makes them: a bundle text from
 * shared/escrow/backup-bundle.ts, sealed to an escrow certificate with the project's encryptor
 * (or with `openssl cms -encrypt`). Certificates are valid around the real clock so that a running
 * service accepts them. And the local runtime they are restored into, with the CLI's own tokens.
 */
import { createHash, type KeyObject, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readLocalConfig } from '../../functions/local/config';
import { type LocalRuntime, startLocalRuntime } from '../../functions/local/server';
import type { BackupBundle, BackupEntry } from '../../shared/escrow/backup-bundle';
import { buildSelfSigned } from '../../shared/pki/builder';
import { createEncryptStream } from '../../shared/recording';
import { certificateIdOf } from '../../shared/usecases/certificate-upload';
import { daysFrom, rsaKey } from '../helpers/pki';
import { reccert, tempDir } from './cli';

export interface Made {
  id: string;
  key: KeyObject;
  keyPem: string;
  certPem: string;
}

/** A certificate for `rsaKey(name)`, valid from `fromDays` to `toDays` around `now`. */
export function certificate(name: string, now: Date, fromDays = -1, toDays = 365): Made {
  const key = rsaKey(name);
  const { pem } = buildSelfSigned(key, {
    subject: [
      ['CN', `Recording ${name}`],
      ['C', 'US'],
      ['O', 'Genesys'],
    ],
    notBefore: daysFrom(now, fromDays),
    notAfter: daysFrom(now, toDays),
  });
  const fingerprint = createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
  return {
    id: certificateIdOf(fingerprint),
    key,
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certPem: pem,
  };
}

/** A bundle entry for `made`, with its key unless `notEscrowedReason` says why not. */
export function entry(
  made: Made,
  options: {
    status?: BackupEntry['status'];
    profiles?: string[];
    screen?: boolean;
    notEscrowedReason?: string;
    keyOf?: Made;
  } = {},
): BackupEntry {
  const keyOwner = options.keyOf ?? made;
  return {
    certificateId: made.id,
    alias: `reccert-acme-${made.id.slice(0, 16)}`,
    status: options.status ?? 'active',
    notAfter: new Date(new X509Certificate(made.certPem).validTo).toISOString(),
    activeIn: { ivrProfiles: options.profiles ?? [], screenRecording: options.screen ?? false },
    certificatePem: made.certPem,
    ...(options.notEscrowedReason === undefined
      ? { privateKeyDer: keyOwner.key.export({ type: 'pkcs8', format: 'der' }) }
      : { notEscrowedReason: options.notEscrowedReason }),
  };
}

/** `text` sealed to `certPem` with the project's CMS encryptor (AuthEnvelopedData, DER). */
export async function seal(text: string | Buffer, certPem: string): Promise<Buffer> {
  const data = Buffer.from(text);
  const chunks: Buffer[] = [];
  await pipeline(
    Readable.from([data]),
    createEncryptStream([certPem], { contentLength: data.length }),
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk);
        done();
      },
    }),
  );
  return Buffer.concat(chunks);
}

/** Writes the escrow pair into `dir` as escrow.key / escrow.pem. */
export function writeEscrow(dir: string, escrow: Made): void {
  writeFileSync(join(dir, 'escrow.key'), escrow.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'escrow.pem'), escrow.certPem);
}

export function bundleOf(entries: BackupEntry[], extra: Partial<BackupBundle> = {}): BackupBundle {
  return {
    tenantId: 'acme',
    createdAt: '2026-12-01T10:00:00.000Z',
    profiles: [],
    screenRecordingCertificateIds: [],
    entries,
    ...extra,
  };
}

/** A fresh local runtime (SQLite, file keystore, aws flow) on a free port. */
export async function startRuntime(): Promise<{ runtime: LocalRuntime; dataDir: string }> {
  const dataDir = tempDir('reccert-cli-data-');
  const config = readLocalConfig({ DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' });
  return { runtime: await startLocalRuntime(config), dataDir };
}

/** A token for `tenant` with `roles`, minted by the CLI with the runtime's secret. */
export async function cliToken(
  dataDir: string,
  tenant: string,
  roles: string[] = ['admin'],
): Promise<string> {
  const result = await reccert([
    'token',
    '--tenant',
    tenant,
    ...roles.flatMap((r) => ['--role', r]),
    '--data-dir',
    dataDir,
  ]);
  if (result.code !== 0) throw new Error(`reccert token failed: ${result.stderr}`);
  return result.stdout.trim();
}
