import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileKeystore, loadOrCreateMasterKey } from '../../functions/local/file-keystore';
import { AppError } from '../../shared/errors';
import type { KeyReference } from '../../shared/ports';
import {
  describeCustodyContract,
  makeKeyMaterial,
  type TestKeyMaterial,
  wrapSessionKey,
} from '../ports/custody-contract';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'reccert-keystore-'));
}

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

describeCustodyContract('file keystore', async () => {
  const dir = tempDir();
  return {
    custody: new FileKeystore(dir, crypto.randomBytes(32)),
    cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
});

describe('FileKeystore', () => {
  let dataDir: string;
  let masterKey: Buffer;
  let keystore: FileKeystore;
  let material: TestKeyMaterial;
  const ref: KeyReference = { tenantId: 'acme', certificateId: 'cert-1', alias: 'rec-cert-1' };

  beforeAll(() => {
    material = makeKeyMaterial('file-keystore');
  });

  beforeEach(() => {
    dataDir = tempDir();
    masterKey = crypto.randomBytes(32);
    keystore = new FileKeystore(dataDir, masterKey);
  });

  afterEach(() => {
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  function keyFile(tenantId: string, keyRef: string): string {
    return path.join(dataDir, 'keys', tenantId, `${keyRef}.key`);
  }

  it('writes one sealed file of version, IV, ciphertext and tag, mode 0600, in a 0700 folder', async () => {
    const { keyRef } = await keystore.store(ref, material.pkcs8Der, material.certificatePem);

    const file = keyFile('acme', keyRef);
    const sealed = fs.readFileSync(file);
    expect(keyRef).toMatch(/^cert-1\.[0-9a-f]{16}$/);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(sealed[0]).toBe(1);
    expect(sealed.length).toBe(1 + 12 + material.pkcs8Der.length + 16);
    expect(filesUnder(dataDir)).toEqual([file]);
  });

  it('leaves no plaintext key bytes anywhere in the data dir', async () => {
    await keystore.store(ref, material.pkcs8Der, material.certificatePem);
    const jwk = material.privateKey.export({ format: 'jwk' });
    const pem = material.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const pemBodyLine = pem.split('\n')[5]!;
    const secrets = [
      material.pkcs8Der,
      material.privateKey.export({ type: 'pkcs1', format: 'der' }),
      Buffer.from(material.pkcs8Der.toString('base64')),
      Buffer.from(pemBodyLine),
      Buffer.from(jwk.d!, 'base64url'),
      Buffer.from(jwk.p!, 'base64url'),
      Buffer.from(jwk.q!, 'base64url'),
      Buffer.from(jwk.d!),
    ];

    const leaks = filesUnder(dataDir).flatMap((file) => {
      const bytes = fs.readFileSync(file);
      return secrets
        .map((secret, i) => ({ i, hit: bytes.includes(secret.subarray(0, 64)) }))
        .filter((s) => s.hit)
        .map((s) => `${file}#${s.i}`);
    });
    expect(leaks).toEqual([]);
  });

  it('refuses to unwrap with a tampered key file', async () => {
    const wrapped = wrapSessionKey(material.publicKey, crypto.randomBytes(32));
    const { keyRef } = await keystore.store(ref, material.pkcs8Der, material.certificatePem);
    const file = keyFile('acme', keyRef);
    const sealed = fs.readFileSync(file);
    sealed[40] = sealed[40]! ^ 0x01;
    fs.writeFileSync(file, sealed);

    await expect(keystore.unwrapKey(ref, keyRef, wrapped)).rejects.toMatchObject({ code: 'INTERNAL_ERROR' });
  });

  it('refuses to unwrap a truncated key file and one of an unknown format version', async () => {
    const wrapped = wrapSessionKey(material.publicKey, crypto.randomBytes(32));
    const truncated = await keystore.store(ref, material.pkcs8Der, material.certificatePem);
    const versioned = await keystore.store(ref, material.pkcs8Der, material.certificatePem);
    fs.truncateSync(keyFile('acme', truncated.keyRef), 20);
    const sealed = fs.readFileSync(keyFile('acme', versioned.keyRef));
    sealed[0] = 2;
    fs.writeFileSync(keyFile('acme', versioned.keyRef), sealed);

    await expect(keystore.unwrapKey(ref, truncated.keyRef, wrapped)).rejects.toMatchObject({
      code: 'INTERNAL_ERROR',
    });
    await expect(keystore.unwrapKey(ref, versioned.keyRef, wrapped)).rejects.toMatchObject({
      code: 'INTERNAL_ERROR',
    });
  });

  it('refuses a key file moved into another tenant’s folder', async () => {
    const wrapped = wrapSessionKey(material.publicKey, crypto.randomBytes(32));
    const { keyRef } = await keystore.store(ref, material.pkcs8Der, material.certificatePem);
    fs.mkdirSync(path.join(dataDir, 'keys', 'evil'), { recursive: true });
    fs.copyFileSync(keyFile('acme', keyRef), keyFile('evil', keyRef));

    await expect(keystore.unwrapKey({ ...ref, tenantId: 'evil' }, keyRef, wrapped)).rejects.toMatchObject({
      code: 'INTERNAL_ERROR',
    });
  });

  it('refuses a key file renamed to another certificate', async () => {
    const wrapped = wrapSessionKey(material.publicKey, crypto.randomBytes(32));
    const { keyRef } = await keystore.store(ref, material.pkcs8Der, material.certificatePem);
    const otherRef = `cert-2.${keyRef.split('.')[1]}`;
    fs.copyFileSync(keyFile('acme', keyRef), keyFile('acme', otherRef));

    await expect(
      keystore.unwrapKey({ ...ref, certificateId: 'cert-2' }, otherRef, wrapped),
    ).rejects.toMatchObject({
      code: 'INTERNAL_ERROR',
    });
  });

  it('cannot open keys sealed under another master key', async () => {
    const wrapped = wrapSessionKey(material.publicKey, crypto.randomBytes(32));
    const { keyRef } = await keystore.store(ref, material.pkcs8Der, material.certificatePem);

    const other = new FileKeystore(dataDir, crypto.randomBytes(32));

    await expect(other.unwrapKey(ref, keyRef, wrapped)).rejects.toMatchObject({ code: 'INTERNAL_ERROR' });
  });

  it('answers NO_MATCHING_KEY for a missing key and a session key wrapped for another key', async () => {
    const { keyRef } = await keystore.store(ref, material.pkcs8Der, material.certificatePem);
    const foreign = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;

    await expect(keystore.unwrapKey(ref, 'cert-1.0000000000000000', Buffer.alloc(256))).rejects.toMatchObject(
      {
        code: 'NO_MATCHING_KEY',
      },
    );
    await expect(
      keystore.unwrapKey(ref, keyRef, wrapSessionKey(foreign, crypto.randomBytes(32))),
    ).rejects.toMatchObject({ code: 'NO_MATCHING_KEY' });
  });

  it('ignores a temp file left by a crash, in listings and in later stores', async () => {
    fs.mkdirSync(path.join(dataDir, 'keys', 'acme'), { recursive: true });
    const leftover = path.join(dataDir, 'keys', 'acme', '.cert-1.0123456789abcdef.key.a1b2c3.tmp');
    fs.writeFileSync(leftover, Buffer.from([1, 2, 3]));
    const sessionKey = crypto.randomBytes(32);

    const { keyRef } = await keystore.store(ref, material.pkcs8Der, material.certificatePem);

    expect(await keystore.listKeyRefs()).toEqual([{ tenantId: 'acme', certificateId: 'cert-1', keyRef }]);
    expect(
      (await keystore.unwrapKey(ref, keyRef, wrapSessionKey(material.publicKey, sessionKey))).equals(
        sessionKey,
      ),
    ).toBe(true);
  });

  it('lists stored keys of all tenants or of one, and forgets removed ones', async () => {
    const a1 = await keystore.store(ref, material.pkcs8Der, material.certificatePem);
    const a2 = await keystore.store(
      { ...ref, certificateId: 'cert.2' },
      material.pkcs8Der,
      material.certificatePem,
    );
    const b1 = await keystore.store({ ...ref, tenantId: 'beta' }, material.pkcs8Der, material.certificatePem);
    await keystore.remove(ref, a1.keyRef);

    const all = await keystore.listKeyRefs();
    const beta = await keystore.listKeyRefs('beta');

    expect(all).toEqual([
      { tenantId: 'acme', certificateId: 'cert.2', keyRef: a2.keyRef },
      { tenantId: 'beta', certificateId: 'cert-1', keyRef: b1.keyRef },
    ]);
    expect(beta).toEqual([{ tenantId: 'beta', certificateId: 'cert-1', keyRef: b1.keyRef }]);
    expect(await keystore.listKeyRefs('nobody')).toEqual([]);
  });

  it.each(['../acme', '.hidden', 'a/b', '..', '', 'a\\b', 'ten ant'])(
    'refuses the tenant id %p',
    async (tenantId) => {
      await expect(
        keystore.store({ ...ref, tenantId }, material.pkcs8Der, material.certificatePem),
      ).rejects.toBeInstanceOf(AppError);
      await expect(keystore.listKeyRefs(tenantId)).rejects.toBeInstanceOf(AppError);
      expect(fs.readdirSync(dataDir)).toEqual([]);
    },
  );

  it.each(['../../master', '.cert-1.0123456789abcdef', 'cert-1/../x', 'cert-2.0123456789abcdef'])(
    'refuses the key reference %p for certificate cert-1',
    async (keyRef) => {
      await expect(keystore.unwrapKey(ref, keyRef, Buffer.alloc(256))).rejects.toBeInstanceOf(AppError);
      await expect(keystore.remove(ref, keyRef)).rejects.toBeInstanceOf(AppError);
    },
  );

  it('refuses key bytes that are not an RSA PKCS#8 key, without echoing them', async () => {
    const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const garbage = crypto.randomBytes(300);

    await expect(keystore.store(ref, garbage, material.certificatePem)).rejects.toThrow(
      /^Key custody accepts only an RSA private key as PKCS#8 DER\.$/,
    );
    await expect(
      keystore.store(ref, ec.export({ type: 'pkcs8', format: 'der' }), material.certificatePem),
    ).rejects.toThrow(/RSA private key/);
  });

  it('refuses a master key that is not 32 bytes', () => {
    expect(() => new FileKeystore(dataDir, crypto.randomBytes(16))).toThrow(/32 bytes/);
  });
});

describe('loadOrCreateMasterKey', () => {
  let dataDir: string;

  beforeEach(() => {
    dataDir = path.join(tempDir(), 'data');
  });

  afterEach(() => {
    fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
  });

  it('creates a 32-byte master.key with mode 0600 and reads the same key afterwards', async () => {
    const created = await loadOrCreateMasterKey(dataDir);
    const reread = await loadOrCreateMasterKey(dataDir);

    const file = path.join(dataDir, 'master.key');
    expect(created.length).toBe(32);
    expect(reread.equals(created)).toBe(true);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dataDir)).toEqual(['master.key']);
  });

  it('gives concurrent first starts one and the same key', async () => {
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateMasterKey(dataDir)));

    expect(new Set(keys.map((k) => k.toString('hex'))).size).toBe(1);
    expect(fs.readdirSync(dataDir)).toEqual(['master.key']);
  });

  it('refuses a master.key readable by group or others, naming the fix', async () => {
    const file = path.join(dataDir, 'master.key');
    await loadOrCreateMasterKey(dataDir);
    fs.chmodSync(file, 0o644);

    await expect(loadOrCreateMasterKey(dataDir)).rejects.toThrow(/mode 0644.*chmod 600/);
  });

  it('refuses a master.key of the wrong length', async () => {
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(path.join(dataDir, 'master.key'), crypto.randomBytes(31), { mode: 0o600 });

    await expect(loadOrCreateMasterKey(dataDir)).rejects.toThrow(/exactly 32 bytes but holds 31/);
  });

  it('refuses a master.key that is a symbolic link', async () => {
    fs.mkdirSync(dataDir, { recursive: true });
    const target = path.join(path.dirname(dataDir), 'elsewhere.key');
    fs.writeFileSync(target, crypto.randomBytes(32), { mode: 0o600 });
    fs.symlinkSync(target, path.join(dataDir, 'master.key'));

    await expect(loadOrCreateMasterKey(dataDir)).rejects.toThrow(/symbolic link/);
  });

  it('takes RECCERT_MASTER_KEY as hex or base64 and then writes no file', async () => {
    const key = crypto.randomBytes(32);

    const fromHex = await loadOrCreateMasterKey(dataDir, key.toString('hex'));
    const fromBase64 = await loadOrCreateMasterKey(dataDir, ` ${key.toString('base64')}\n`);
    const fromBase64Url = await loadOrCreateMasterKey(dataDir, key.toString('base64url'));

    expect(fromHex.equals(key)).toBe(true);
    expect(fromBase64.equals(key)).toBe(true);
    expect(fromBase64Url.equals(key)).toBe(true);
    expect(fs.existsSync(dataDir)).toBe(false);
  });

  it.each([
    ['16 bytes of base64', crypto.randomBytes(16).toString('base64')],
    ['63 hex characters', 'a'.repeat(63)],
    ['not an encoding', 'correct horse battery staple!'],
  ])('refuses a RECCERT_MASTER_KEY of %s without echoing it', async (_what, value) => {
    const attempt = loadOrCreateMasterKey(dataDir, value);

    await expect(attempt).rejects.toThrow(/RECCERT_MASTER_KEY must be 32 bytes/);
    await expect(attempt).rejects.not.toThrow(value);
  });
});
