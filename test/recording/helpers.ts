/**
 * Test helpers for recording encryption: keys and certificates made by the openssl CLI in a
 * temporary directory, openssl as the CMS peer, and seeded pseudo-random files.
 */
import { execFile } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { createEncryptStream, PrivateKeyUnwrapper } from '../../shared/recording';

const run = promisify(execFile);

export interface KeyPair {
  name: string;
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
  unwrapper: PrivateKeyUnwrapper;
}

export async function tempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `reccert-${prefix}-`));
}

/** A 2048-bit RSA key and a one-day self-signed certificate, as the issue prescribes. */
export async function makeKeyPair(dir: string, name: string): Promise<KeyPair> {
  const certPath = path.join(dir, `${name}.pem`);
  const keyPath = path.join(dir, `${name}.key`);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    `/CN=${name}`,
    '-days',
    '1',
    '-keyout',
    keyPath,
    '-out',
    certPath,
  ]);
  const certPem = await fs.readFile(certPath, 'utf8');
  const keyPem = await fs.readFile(keyPath, 'utf8');
  return {
    name,
    certPath,
    keyPath,
    certPem,
    keyPem,
    unwrapper: new PrivateKeyUnwrapper({ privateKey: keyPem, certificate: certPem }),
  };
}

/** `openssl cms -encrypt` to AES-256-GCM with RSAES-OAEP SHA-256 for every recipient. */
export async function opensslEncrypt(
  inPath: string,
  outPath: string,
  recipients: KeyPair[],
  options: { stream?: boolean; oaep?: boolean; cipher?: string } = {},
): Promise<void> {
  const args = ['cms', '-encrypt', '-binary', options.cipher ?? '-aes-256-gcm'];
  if (options.stream) args.push('-stream');
  for (const r of recipients) {
    args.push('-recip', r.certPath);
    if (options.oaep !== false)
      args.push('-keyopt', 'rsa_padding_mode:oaep', '-keyopt', 'rsa_oaep_md:sha256');
  }
  args.push('-in', inPath, '-outform', 'DER', '-out', outPath);
  await run('openssl', args, { maxBuffer: 1024 * 1024 });
}

/** `openssl cms -decrypt` as DESIGN section 6 documents it. */
export async function opensslDecrypt(
  inPath: string,
  outPath: string,
  recipient: Pick<KeyPair, 'keyPath' | 'certPath'>,
): Promise<void> {
  await run(
    'openssl',
    [
      'cms',
      '-decrypt',
      '-binary',
      '-inform',
      'DER',
      '-in',
      inPath,
      '-inkey',
      recipient.keyPath,
      '-recip',
      recipient.certPath,
      '-out',
      outPath,
    ],
    { maxBuffer: 1024 * 1024 },
  );
}

/**
 * Writes `size` pseudo-random bytes derived from `seed` (an AES-CTR keystream: fast and
 * reproducible) and returns their SHA-256.
 */
export async function writeSeededFile(filePath: string, size: number, seed: string): Promise<string> {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const keystream = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const hash = createHash('sha256');
  const zeros = Buffer.alloc(1024 * 1024);
  const out = createWriteStream(filePath);
  for (let left = size; left > 0; ) {
    const n = Math.min(left, zeros.length);
    const chunk = keystream.update(zeros.subarray(0, n));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    left -= n;
  }
  await new Promise<void>((resolve, reject) => {
    out.once('error', reject);
    out.end(() => resolve());
  });
  return hash.digest('hex');
}

export async function sha256File(filePath: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(filePath, { highWaterMark: 1024 * 1024 }))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The files in `dir` (to check that a failed decryption left nothing behind). */
export async function listDir(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).sort();
}

/** Encrypts `plaintext` in memory for `certs` (PEM) with our encryptor, DER with a known length. */
export async function encryptBuffer(plaintext: Buffer, certs: string[]): Promise<Buffer> {
  const encryptor = createEncryptStream(certs, { contentLength: plaintext.length });
  const chunks: Buffer[] = [];
  encryptor.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((resolve) => encryptor.once('end', resolve));
  encryptor.end(plaintext);
  await done;
  return Buffer.concat(chunks);
}
