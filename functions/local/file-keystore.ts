/**
 * The local runtime's key custody: private keys sealed with AES-256-GCM under one 32-byte master
 * key, one file per stored key under `<dataDir>/keys/<tenantId>/<keyRef>.key`.
 *
 * File layout: version byte (1) | IV (12 random bytes) | ciphertext | GCM tag (16 bytes). The AAD
 * binds the version, tenant, certificate and keyRef, so a file copied or renamed to another tenant
 * or certificate fails to open instead of lending its key there.
 *
 * The opened key exists only in memory for one unwrap; nothing here logs, and no error message
 * carries key bytes.
 */
import crypto from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../shared/errors';
import { importPrivateKeyDer } from '../../shared/pki/rsa-key-import';
import { unwrapOaepSha256 } from '../../shared/pki/rsa-oaep';
import type { KeyCustody, KeyReference } from '../../shared/ports';

const FORMAT_VERSION = 1;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const MASTER_KEY_LENGTH = 32;
const KEY_SUFFIX = '.key';
/** Tenant ids, certificate ids and keyRefs become path segments: a strict charset, no leading dot. */
const SAFE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$/;

/** A stored key as the orphan sweep sees it. */
export interface StoredKeyRef {
  tenantId: string;
  certificateId: string;
  keyRef: string;
}

/** `KeyCustody` on the local file system, sealed under a master key. */
export class FileKeystore implements KeyCustody {
  private readonly keysDir: string;
  private readonly masterKey: Buffer;

  /**
   * @param dataDir the data directory; keys go under `<dataDir>/keys/`.
   * @param masterKey 32 bytes, from {@link loadOrCreateMasterKey}.
   */
  constructor(dataDir: string, masterKey: Buffer) {
    if (masterKey.length !== MASTER_KEY_LENGTH) {
      throw new Error(`The master key must be ${MASTER_KEY_LENGTH} bytes.`);
    }
    this.keysDir = path.join(path.resolve(dataDir), 'keys');
    // A private copy: the caller may wipe or reuse its buffer.
    this.masterKey = Buffer.from(masterKey);
  }

  async store(ref: KeyReference, pkcs8Der: Buffer, _certificatePem: string): Promise<{ keyRef: string }> {
    assertSafeName('tenantId', ref.tenantId);
    assertSafeName('certificateId', ref.certificateId);
    assertPkcs8PrivateKey(pkcs8Der);
    // A fresh random suffix per upload: a retried store never overwrites an earlier key.
    const keyRef = `${ref.certificateId}.${crypto.randomBytes(8).toString('hex')}`;
    const sealed = seal(this.masterKey, aad(ref.tenantId, ref.certificateId, keyRef), pkcs8Der);
    const dir = path.join(this.keysDir, ref.tenantId);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await writeCreateOnly(path.join(dir, `${keyRef}${KEY_SUFFIX}`), sealed);
    return { keyRef };
  }

  async remove(ref: KeyReference, keyRef: string): Promise<void> {
    const file = this.keyFile(ref, keyRef);
    try {
      await fs.unlink(file);
    } catch (error) {
      if (errnoCode(error) !== 'ENOENT') throw error;
      return;
    }
    await fsyncDir(path.dirname(file));
  }

  async unwrapKey(ref: KeyReference, keyRef: string, wrappedKey: Buffer): Promise<Buffer> {
    const file = this.keyFile(ref, keyRef);
    let sealed: Buffer;
    try {
      sealed = await fs.readFile(file);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') {
        throw new AppError(
          'NO_MATCHING_KEY',
          `No private key is held for certificate '${ref.certificateId}'.`,
          {
            details: { certificateId: ref.certificateId },
          },
        );
      }
      throw error;
    }
    const der = open(this.masterKey, aad(ref.tenantId, ref.certificateId, keyRef), sealed, ref.certificateId);
    try {
      const privateKey = importPrivateKeyDer(der, 'pkcs8');
      try {
        // Off the event loop: a 16384-bit private operation would stall every other request.
        return await unwrapOaepSha256(privateKey, wrappedKey);
      } catch {
        // OpenSSL's message says nothing useful to a caller; the cause is always "not for this key".
        throw new AppError(
          'NO_MATCHING_KEY',
          `The session key was not wrapped for the key of certificate '${ref.certificateId}'.`,
          { details: { certificateId: ref.certificateId } },
        );
      }
    } finally {
      // Best effort: do not leave the plaintext DER in the heap longer than needed.
      der.fill(0);
    }
  }

  /** Every stored key (of one tenant, or of all), for a sweep of keys without a certificate. */
  async listKeyRefs(tenantId?: string): Promise<StoredKeyRef[]> {
    if (tenantId !== undefined) assertSafeName('tenantId', tenantId);
    const tenants = tenantId === undefined ? await listDir(this.keysDir) : [tenantId];
    const found: StoredKeyRef[] = [];
    for (const tenant of tenants.filter((name) => SAFE_NAME.test(name)).sort()) {
      for (const name of (await listDir(path.join(this.keysDir, tenant))).sort()) {
        // Temp files (leading dot) and anything foreign are not keys.
        if (!name.endsWith(KEY_SUFFIX)) continue;
        const keyRef = name.slice(0, -KEY_SUFFIX.length);
        const certificateId = certificateIdOf(keyRef);
        if (!SAFE_NAME.test(keyRef) || certificateId === undefined) continue;
        found.push({ tenantId: tenant, certificateId, keyRef });
      }
    }
    return found;
  }

  private keyFile(ref: KeyReference, keyRef: string): string {
    assertSafeName('tenantId', ref.tenantId);
    assertSafeName('keyRef', keyRef);
    if (certificateIdOf(keyRef) !== ref.certificateId) {
      throw new AppError(
        'NO_MATCHING_KEY',
        `The key reference does not belong to certificate '${ref.certificateId}'.`,
        {
          details: { certificateId: ref.certificateId },
        },
      );
    }
    return path.join(this.keysDir, ref.tenantId, `${keyRef}${KEY_SUFFIX}`);
  }
}

/**
 * The 32-byte master key: `RECCERT_MASTER_KEY` (base64, or 64 hex characters) when given, else
 * `<dataDir>/master.key` (raw 32 bytes, mode 0600), created on first start. Refuses to start when
 * the file is readable by group or others, or is not exactly 32 bytes.
 */
export async function loadOrCreateMasterKey(dataDir: string, envValue?: string): Promise<Buffer> {
  if (envValue !== undefined && envValue.trim() !== '') return parseMasterKey(envValue.trim());
  const dir = path.resolve(dataDir);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, 'master.key');
  const existing = await readMasterKeyFile(file);
  if (existing !== undefined) return existing;
  try {
    await writeCreateOnly(file, crypto.randomBytes(MASTER_KEY_LENGTH));
  } catch (error) {
    // Another process created it first: use theirs, never replace it.
    if (errnoCode(error) !== 'EEXIST') throw error;
  }
  const created = await readMasterKeyFile(file);
  if (created === undefined)
    throw new Error(`The master key file ${file} vanished while it was being created.`);
  return created;
}

function parseMasterKey(value: string): Buffer {
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(value)) key = Buffer.from(value, 'hex');
  else if (/^[A-Za-z0-9+/]+={0,2}$/.test(value) || /^[A-Za-z0-9_-]+$/.test(value)) {
    key = Buffer.from(value, value.includes('-') || value.includes('_') ? 'base64url' : 'base64');
  }
  if (key?.length !== MASTER_KEY_LENGTH) {
    // The value itself is a secret: never echo it.
    throw new Error(
      'RECCERT_MASTER_KEY must be 32 bytes, given as base64 or as 64 hex characters (for example: openssl rand -base64 32).',
    );
  }
  return key;
}

async function readMasterKeyFile(file: string): Promise<Buffer | undefined> {
  let handle: fs.FileHandle;
  try {
    // O_NOFOLLOW: the key file must be the file itself, not a link someone planted.
    handle = await fs.open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    if (errnoCode(error) === 'ELOOP')
      throw new Error(`The master key file ${file} is a symbolic link; refusing it.`);
    throw error;
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new Error(`The master key file ${file} is not a regular file.`);
    const mode = stat.mode & 0o777;
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new Error(
        `The master key file ${file} is readable by group or others (mode 0${mode.toString(8)}); run: chmod 600 ${file}`,
      );
    }
    if (stat.size !== MASTER_KEY_LENGTH) {
      throw new Error(
        `The master key file ${file} must hold exactly ${MASTER_KEY_LENGTH} bytes but holds ${stat.size}; restore it from backup.`,
      );
    }
    const key = await handle.readFile();
    if (key.length !== MASTER_KEY_LENGTH)
      throw new Error(`The master key file ${file} changed while being read.`);
    return key;
  } finally {
    await handle.close();
  }
}

/**
 * Writes a new file that never existed and never appears half-written: the bytes go to a temp file
 * (create-only, 0600) that is fsynced, then hard-linked to its name. Unlike rename, link fails with
 * EEXIST instead of replacing an existing file, so the target is truly create-only.
 */
async function writeCreateOnly(target: string, data: Buffer): Promise<void> {
  const dir = path.dirname(target);
  // Leading dot: never a valid key or tenant name, so readers skip a crash leftover.
  const temp = path.join(dir, `.${path.basename(target)}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(temp, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.link(temp, target);
  } finally {
    await fs.rm(temp, { force: true });
  }
  await fsyncDir(dir);
}

async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function aad(tenantId: string, certificateId: string, keyRef: string): Buffer {
  // NUL cannot occur in the validated names, so the concatenation is unambiguous.
  return Buffer.from(`reccert-key\0${FORMAT_VERSION}\0${tenantId}\0${certificateId}\0${keyRef}`, 'utf8');
}

function seal(masterKey: Buffer, additionalData: Buffer, plaintext: Buffer): Buffer {
  const iv = crypto.randomBytes(IV_LENGTH);
  const cipher = crypto.createCipheriv('aes-256-gcm', masterKey, iv, { authTagLength: TAG_LENGTH });
  cipher.setAAD(additionalData);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([FORMAT_VERSION]), iv, ciphertext, cipher.getAuthTag()]);
}

function open(masterKey: Buffer, additionalData: Buffer, sealed: Buffer, certificateId: string): Buffer {
  const unusable = () =>
    new AppError(
      'INTERNAL_ERROR',
      `The stored key of certificate '${certificateId}' cannot be opened (damaged, moved, or sealed under another master key).`,
      { details: { certificateId } },
    );
  if (sealed.length < 1 + IV_LENGTH + TAG_LENGTH + 1 || sealed[0] !== FORMAT_VERSION) throw unusable();
  const iv = sealed.subarray(1, 1 + IV_LENGTH);
  const tag = sealed.subarray(sealed.length - TAG_LENGTH);
  const ciphertext = sealed.subarray(1 + IV_LENGTH, sealed.length - TAG_LENGTH);
  try {
    const decipher = crypto.createDecipheriv('aes-256-gcm', masterKey, iv, { authTagLength: TAG_LENGTH });
    decipher.setAAD(additionalData);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    throw unusable();
  }
}

function assertPkcs8PrivateKey(der: Buffer): void {
  let type: string | undefined;
  try {
    type = importPrivateKeyDer(der, 'pkcs8').asymmetricKeyType;
  } catch {
    type = undefined;
  }
  // The core validates uploads; reaching this is a wiring bug, so a plain error (no key bytes).
  if (type !== 'rsa') throw new Error('Key custody accepts only an RSA private key as PKCS#8 DER.');
}

function assertSafeName(what: string, value: string): void {
  if (!SAFE_NAME.test(value)) {
    throw new AppError(
      'VALIDATION_ERROR',
      `The ${what} is not a safe name (letters, digits, '.', '_', '-').`,
      {
        details: { [what]: value.slice(0, 64) },
      },
    );
  }
}

/** keyRef is `<certificateId>.<16 hex>`; returns the certificate id, or undefined if malformed. */
function certificateIdOf(keyRef: string): string | undefined {
  const match = /^(.+)\.[0-9a-f]{16}$/.exec(keyRef);
  return match?.[1];
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw error;
  }
}

function errnoCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}
