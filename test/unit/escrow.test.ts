import { readFileSync, rmSync } from 'node:fs';
import { parseBackupBundle } from '../../shared/escrow/backup-bundle';
import type { KeyCustody } from '../../shared/ports';
import { uploadCertificate } from '../../shared/usecases/certificate-upload';
import { deleteCertificate } from '../../shared/usecases/certificates';
import { getEscrowStatus, keyBackup, registerEscrowCertificate } from '../../shared/usecases/escrow';
import { type TestCore, testCore } from '../helpers/core';
import { daysFrom, FIXED_NOW, makePair, openssl, rsaKey, tempDir, writeTemp } from '../helpers/pki';

const admin = { subject: 'alice' };

function pairNamed(name: string) {
  return makePair({
    key: rsaKey(name),
    notBefore: daysFrom(FIXED_NOW, -1),
    notAfter: daysFrom(FIXED_NOW, 365),
  });
}

const escrowPair = pairNamed('escrow');

/** Opens a DER CMS with the escrow key, as the tenant would (stock openssl). */
function openWithEscrowKey(der: Buffer): Buffer {
  const dir = tempDir('reccert-escrow-unit-');
  try {
    const key = writeTemp(dir, 'escrow.key', escrowPair.keyPem);
    const cert = writeTemp(dir, 'escrow.pem', escrowPair.certPem);
    const input = writeTemp(dir, 'in.cms', der);
    const out = `${dir}/out.bin`;
    openssl([
      'cms',
      '-decrypt',
      '-binary',
      '-inform',
      'DER',
      '-in',
      input,
      '-inkey',
      key,
      '-recip',
      cert,
      '-out',
      out,
    ]);
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Key Vault's rule: a custody that never hands a key back (no exportKey). */
function withoutExport(custody: KeyCustody): KeyCustody {
  return {
    store: (r, d, c) => custody.store(r, d, c),
    remove: (r, k) => custody.remove(r, k),
    unwrapKey: (r, k, w) => custody.unwrapKey(r, k, w),
    listKeys: () => custody.listKeys(),
  };
}

const cores: TestCore[] = [];
function freshCore(): TestCore {
  const core = testCore();
  cores.push(core);
  return core;
}
afterEach(() => {
  for (const core of cores.splice(0)) core.close();
});

async function upload(core: TestCore, name: string) {
  const pair = pairNamed(name);
  return uploadCertificate(core.deps, admin, 'acme', { certificate: pair.certPem, privateKey: pair.keyPem });
}

describe('escrow at upload', () => {
  it('seals each new key to the escrow certificate, and only the escrow key opens it to that key', async () => {
    const core = freshCore();
    await registerEscrowCertificate(core.deps, admin, 'acme', { certificate: escrowPair.certPem });

    const view = await upload(core, 'u1');

    const [copy] = await core.repo.listEscrowCopies('acme');
    expect(copy?.certificateId).toBe(view.id);
    const pkcs8 = openWithEscrowKey(copy!.cms);
    expect(pkcs8.equals(rsaKey('u1').export({ type: 'pkcs8', format: 'der' }))).toBe(true);
  });

  it('refuses the upload with 503 and stores nothing when the escrow copy cannot be written', async () => {
    const core = freshCore();
    await registerEscrowCertificate(core.deps, admin, 'acme', { certificate: escrowPair.certPem });
    core.repo.putEscrowCopy = async () => {
      throw new Error('SQLITE_IOERR: disk I/O error');
    };

    await expect(upload(core, 'u2')).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });

    expect(await core.repo.listCertificates('acme')).toEqual([]);
    expect(await core.keystore.listKeyRefs('acme')).toEqual([]);
  });

  it('removes the escrow copy with the key when a later upload step fails', async () => {
    const core = freshCore();
    await registerEscrowCertificate(core.deps, admin, 'acme', { certificate: escrowPair.certPem });
    core.repo.createCertificate = async () => {
      throw new Error('SQLITE_IOERR: disk I/O error');
    };

    await expect(upload(core, 'u3')).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });

    expect(await core.repo.listEscrowCopies('acme')).toEqual([]);
    expect(await core.keystore.listKeyRefs('acme')).toEqual([]);
  });
});

describe('escrow and delete', () => {
  it('removes a deleted certificate’s escrow copy with its key', async () => {
    const core = freshCore();
    await registerEscrowCertificate(core.deps, admin, 'acme', { certificate: escrowPair.certPem });
    const kept = await upload(core, 'd1');
    const removed = await upload(core, 'd2');

    await deleteCertificate(core.deps, admin, 'acme', removed.id, false);

    expect((await core.repo.listEscrowCopies('acme')).map((c) => c.certificateId)).toEqual([kept.id]);
  });
});

describe('escrow registration and backup', () => {
  it('escrows keys held before registration where custody lets them out, and audits without key material', async () => {
    const core = freshCore();
    const before = await upload(core, 'b1');

    const status = await registerEscrowCertificate(core.deps, admin, 'acme', {
      certificate: escrowPair.certPem,
    });

    expect(status).toMatchObject({ escrowedKeys: 1, notEscrowed: [] });
    const [entry] = await core.repo.listAudit('acme', 1);
    expect(entry).toMatchObject({ action: 'escrow.register', details: { escrowedKeys: 1, notEscrowed: [] } });
    expect(JSON.stringify(entry)).not.toContain(
      rsaKey('b1').export({ type: 'pkcs8', format: 'der' }).toString('base64').slice(50, 90),
    );
    expect(await getEscrowStatus(core.deps, 'acme')).toEqual(status);
    expect((await core.repo.listEscrowCopies('acme')).map((c) => c.certificateId)).toEqual([before.id]);
  });

  it('with a custody that never hands keys back: says why older keys are not escrowed, and carries later copies sealed', async () => {
    const core = freshCore();
    core.deps.custody = withoutExport(core.keystore);
    const before = await upload(core, 'kv1');
    const registered = await registerEscrowCertificate(core.deps, admin, 'acme', {
      certificate: escrowPair.certPem,
    });
    const after = await upload(core, 'kv2');

    const backup = await keyBackup(core.deps, admin, 'acme');

    expect(registered.notEscrowed).toEqual([
      { certificateId: before.id, reason: expect.stringContaining('non-exportable') },
    ]);
    const bundle = parseBackupBundle(openWithEscrowKey(backup.cms).toString('utf8'));
    const sealed = bundle.entries.find((e) => e.certificateId === after.id)!;
    const older = bundle.entries.find((e) => e.certificateId === before.id)!;
    expect(sealed.privateKeyDer).toBeUndefined();
    expect(
      openWithEscrowKey(sealed.escrowCopyCms!).equals(rsaKey('kv2').export({ type: 'pkcs8', format: 'der' })),
    ).toBe(true);
    expect(older.notEscrowedReason).toContain('non-exportable');
    expect(backup).toMatchObject({ certificates: 2, keys: 1 });
  });

  it('answers nothing when the download cannot be audited', async () => {
    const core = freshCore();
    await upload(core, 'a1');
    await registerEscrowCertificate(core.deps, admin, 'acme', { certificate: escrowPair.certPem });
    core.repo.appendAudit = async () => {
      throw new Error('SQLITE_BUSY');
    };

    await expect(keyBackup(core.deps, admin, 'acme')).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
  });

  it('refuses a backup larger than the runtime can answer with 413 PAYLOAD_TOO_LARGE', async () => {
    const core = freshCore();
    await upload(core, 'a2');
    await registerEscrowCertificate(core.deps, admin, 'acme', { certificate: escrowPair.certPem });

    await expect(keyBackup(core.deps, admin, 'acme', { maxBytes: 100 })).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
  });
});
