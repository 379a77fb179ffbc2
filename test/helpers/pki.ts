/** Test-time keys and certificates: made fresh in every run, never committed. */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSelfSigned, type CertificateOptions } from '../../shared/pki/builder';

const keyCache = new Map<string, KeyObject>();

/** An RSA private key of `bits`, cached per test process under `name`. */
export function rsaKey(name = 'default', bits = 2048): KeyObject {
  const id = `${name}:${bits}`;
  let key = keyCache.get(id);
  if (!key) {
    key = generateKeyPairSync('rsa', { modulusLength: bits }).privateKey;
    keyCache.set(id, key);
  }
  return key;
}

export const FIXED_NOW = new Date('2026-06-01T00:00:00Z');
const DAY = 86_400_000;

export function daysFrom(base: Date, days: number): Date {
  return new Date(base.getTime() + days * DAY);
}

export interface TestPair {
  key: KeyObject;
  keyPem: string;
  certPem: string;
}

/** A self-signed certificate and its PKCS#8 key, valid around `now` unless overridden. */
export function makePair(
  options: Partial<Omit<CertificateOptions, 'publicKey' | 'signingKey'>> & {
    key?: KeyObject;
    now?: Date;
  } = {},
): TestPair {
  const now = options.now ?? FIXED_NOW;
  const key = options.key ?? rsaKey();
  const cert = buildSelfSigned(key, {
    subject: [
      ['CN', 'Genesys Recording'],
      ['C', 'US'],
      ['ST', 'California'],
      ['O', 'Genesys'],
    ],
    notBefore: daysFrom(now, -1),
    notAfter: daysFrom(now, 365),
    ...options,
  });
  return { key, keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), certPem: cert.pem };
}

/** Runs the openssl CLI and returns stdout (throws with stderr on failure). */
export function openssl(args: string[], input?: string | Buffer): string {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] }).toString('utf8');
}

export function tempDir(prefix = 'reccert-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Has the openssl CLI write a self-signed certificate for the key at `keyPath` (UTF-8 subject). */
export function opensslSelfSigned(
  keyPath: string,
  certPath: string,
  subj: string,
  days = 365,
  extra: string[] = [],
): void {
  openssl([
    'req',
    '-new',
    '-x509',
    '-key',
    keyPath,
    '-out',
    certPath,
    '-days',
    String(days),
    '-subj',
    subj,
    '-utf8',
    ...extra,
  ]);
}

/** A key and self-signed certificate made by the openssl CLI (the independent peer). */
export function opensslPair(
  subj = '/CN=Genesys Recording/C=US/ST=California/O=Genesys',
  days = 365,
  extra: string[] = [],
) {
  const dir = tempDir();
  const keyPath = join(dir, 'tenant.key');
  const certPath = join(dir, 'tenant.pem');
  openssl(['genrsa', '-out', keyPath, '2048']);
  opensslSelfSigned(keyPath, certPath, subj, days, extra);
  return {
    dir,
    keyPath,
    certPath,
    keyPem: readFileSync(keyPath, 'utf8'),
    certPem: readFileSync(certPath, 'utf8'),
  };
}

export function writeTemp(dir: string, name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}
