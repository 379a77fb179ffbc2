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
import {
  assertKeyRefOf,
  assertSafeName,
  gcmOpen,
  gcmSeal,
  IV_LENGTH,
  importCustodyKey,
  isSafeName,
  newKeyRef,
  noKeyHeld,
  SEALED_KEY_VERSION,
  sealedKeyAad,
  storedKeyOf,
  TAG_LENGTH,
  unopenableKey,
  unwrapWithOpenedKey,
} from '../../shared/custody/sealed-key';
import type { KeyCustody, KeyReference, StoredKey } from '../../shared/ports';

const MASTER_KEY_LENGTH = 32;
const KEY_SUFFIX = '.key';

/** A stored key as {@link FileKeystore.listKeyRefs} lists it (no time: that needs a stat per file). */
export type StoredKeyRef = Omit<StoredKey, 'storedAt'>;

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
    importCustodyKey(pkcs8Der);
    const keyRef = newKeyRef(ref.certificateId);
    const sealed = seal(this.masterKey, sealedKeyAad(ref.tenantId, ref.certificateId, keyRef), pkcs8Der);
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
    return unwrapWithOpenedKey(await this.exportKey(ref, keyRef), ref.certificateId, wrappedKey);
  }

  /** The opened key, for the core to seal to the tenant's escrow certificate at once. */
  async exportKey(ref: KeyReference, keyRef: string): Promise<Buffer> {
    const file = this.keyFile(ref, keyRef);
    let sealed: Buffer;
    try {
      sealed = await fs.readFile(file);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') throw noKeyHeld(ref.certificateId);
      throw error;
    }
    return open(
      this.masterKey,
      sealedKeyAad(ref.tenantId, ref.certificateId, keyRef),
      sealed,
      ref.certificateId,
    );
  }

  /** Every stored key, tenant by tenant, with its file's modification time as `storedAt`. */
  async *listKeys(): AsyncIterable<StoredKey> {
    for (const key of await this.listKeyRefs()) {
      let storedAt: Date;
      try {
        const file = path.join(this.keysDir, key.tenantId, `${key.keyRef}${KEY_SUFFIX}`);
        storedAt = new Date((await fs.stat(file)).mtimeMs);
      } catch (error) {
        // Removed since it was listed: nothing left to sweep.
        if (errnoCode(error) === 'ENOENT') continue;
        throw error;
      }
      yield { ...key, storedAt };
    }
  }

  /** Every stored key (of one tenant, or of all), sorted by tenant and keyRef. */
  async listKeyRefs(tenantId?: string): Promise<StoredKeyRef[]> {
    if (tenantId !== undefined) assertSafeName('tenantId', tenantId);
    const tenants = tenantId === undefined ? await listDir(this.keysDir) : [tenantId];
    const found: StoredKeyRef[] = [];
    for (const tenant of tenants.filter(isSafeName).sort()) {
      for (const name of (await listDir(path.join(this.keysDir, tenant))).sort()) {
        // Temp files (leading dot) and anything foreign are not keys.
        if (!name.endsWith(KEY_SUFFIX)) continue;
        const key = storedKeyOf(tenant, name.slice(0, -KEY_SUFFIX.length));
        if (key !== undefined) found.push(key);
      }
    }
    return found;
  }

  private keyFile(ref: KeyReference, keyRef: string): string {
    assertKeyRefOf(ref, keyRef);
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

/** version byte | IV | ciphertext | tag. */
function seal(masterKey: Buffer, aad: Buffer, plaintext: Buffer): Buffer {
  const { iv, ciphertext, tag } = gcmSeal(masterKey, aad, plaintext);
  return Buffer.concat([Buffer.from([SEALED_KEY_VERSION]), iv, ciphertext, tag]);
}

function open(masterKey: Buffer, aad: Buffer, sealed: Buffer, certificateId: string): Buffer {
  const unusable = () => unopenableKey(certificateId, 'damaged, moved, or sealed under another master key');
  if (sealed.length < 1 + IV_LENGTH + TAG_LENGTH + 1 || sealed[0] !== SEALED_KEY_VERSION) throw unusable();
  const opened = gcmOpen(masterKey, aad, {
    iv: sealed.subarray(1, 1 + IV_LENGTH),
    ciphertext: sealed.subarray(1 + IV_LENGTH, sealed.length - TAG_LENGTH),
    tag: sealed.subarray(sealed.length - TAG_LENGTH),
  });
  if (opened === undefined) throw unusable();
  return opened;
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
