/**
 * No leaks (issue 9): the scanner itself is proven able to fail (positive controls for every
 * encoding, negative controls for the public parts), then every route of the local runtime is
 * driven on both flows with keys in good and bad shapes, and every response body, log line, the
 * audit trail and the data directory are scanned for the private keys used: zero hits.
 */
import { createPublicKey, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EscrowStore } from '../../shared/ports';
import { createEncryptStream } from '../../shared/recording';
import {
  freshKeys,
  type LeakHit,
  LeakScanner,
  type LocalHarness,
  pairFor,
  startLocalHarness,
  writeArtifact,
} from './helpers';

/** Encrypts `plaintext` as CMS for `certPem` with the product's encryptor. */
async function encryptFor(certPem: string, plaintext: Buffer): Promise<Buffer> {
  const stream = createEncryptStream([certPem], { contentLength: plaintext.length });
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    stream.once('end', resolve);
    stream.once('error', reject);
  });
  stream.end(plaintext);
  await done;
  return Buffer.concat(chunks);
}

describe('LeakScanner', () => {
  const [key] = freshKeys(1);
  const scanner = new LeakScanner();
  scanner.addKey('k', key!);
  const jwk = key!.export({ format: 'jwk' }) as Record<string, string>;
  const d = Buffer.from(jwk.d!, 'base64url');
  const p = Buffer.from(jwk.p!, 'base64url');
  const pkcs8Pem = key!.export({ format: 'pem', type: 'pkcs8' }).toString();
  const pkcs1Pem = key!.export({ format: 'pem', type: 'pkcs1' }).toString();

  it.each([
    ['a PKCS#8 PEM', pkcs8Pem],
    ['a PKCS#1 PEM', pkcs1Pem],
    ['a PEM inside a JSON log line', JSON.stringify({ message: 'oops', key: pkcs8Pem })],
    ['a PEM body on one line', pkcs8Pem.replace(/-----[^-]+-----|\n/g, '')],
    ['PKCS#8 DER bytes', key!.export({ format: 'der', type: 'pkcs8' })],
    ['PKCS#1 DER bytes', key!.export({ format: 'der', type: 'pkcs1' })],
    ['the private exponent in hex', `d=${d.toString('hex')}`],
    ['the private exponent in upper-case hex', d.toString('hex').toUpperCase()],
    ['the private exponent in base64', d.toString('base64')],
    ['a JWK', JSON.stringify(jwk)],
    ['a prime in decimal', BigInt(`0x${p.toString('hex')}`).toString(10)],
    [
      'a 31-byte slice of the private exponent amid noise',
      Buffer.concat([randomBytes(100), d.subarray(50, 81), randomBytes(100)]),
    ],
  ])('finds %s', (_what, data) => {
    expect(new LeakScanner().scan('x', data)).toEqual([]);
    const hits = scanner.scan('control', data);
    expect(hits.length).toBeGreaterThan(0);
  });

  it('ignores the public parts a certificate legitimately carries', () => {
    const fresh = new LeakScanner();
    fresh.addKey('k', key!);
    const pub = createPublicKey(key!);
    const pair = pairFor(key!);
    const der = Buffer.from(pair.certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const hits = [
      fresh.scan('cert', pair.certPem),
      fresh.scan('cert-der', der),
      fresh.scan('spki', pub.export({ format: 'pem', type: 'spki' })),
      fresh.scan('spki-der', pub.export({ format: 'der', type: 'spki' })),
      fresh.scan('n', JSON.stringify(pub.export({ format: 'jwk' }))),
      fresh.scan('noise', randomBytes(1 << 20)),
    ].flat();
    expect(hits).toEqual([]);
  });
});

describe('the local runtime leaks no private key', () => {
  const scanner = new LeakScanner();
  const harnesses: LocalHarness[] = [];
  const hits: LeakHit[] = [];
  const counts = { requests: 0, logLines: 0, auditEntries: 0, dataFiles: 0 };

  afterAll(async () => {
    for (const h of harnesses) {
      // The data dir after close too: SQLite's checkpoint moves WAL pages into the main file.
      await h.close();
      for (const name of readdirSync(h.dataDir)) if (name.endsWith('.db')) counts.dataFiles++;
      hits.push(...scanner.scanDir(h.dataDir, `closed:${h.dataDir}`));
    }
    writeArtifact('leaks', { ...counts, scan: scanner.stats(), hitsList: hits.slice(0, 20) });
    expect(hits).toEqual([]);
  });

  it.each(['aws', 'azure'] as const)('on the %s flow: every route, good and bad keys', async (flow) => {
    const h = await startLocalHarness({ flow });
    harnesses.push(h);
    const tenant = `leak-${flow}`;
    const admin = await h.token([tenant], ['admin', 'decrypt']);
    const operator = await h.token([], ['operator'], 'ops');
    const keys = freshKeys(4);
    for (const [i, k] of keys.entries()) scanner.addKey(`${flow}-${i}`, k);
    const [k0, k1, k2, k3] = keys as [(typeof keys)[0], (typeof keys)[0], (typeof keys)[0], (typeof keys)[0]];
    const api = h.api;
    const base = `/v1/tenants/${tenant}`;
    const good = pairFor(k0);
    const other = pairFor(k1);
    // The escrow key stays with the tenant: it must not turn up anywhere either.
    const [escrowKey] = freshKeys(1);
    scanner.addKey(`${flow}-escrow`, escrowKey!);
    const escrow = pairFor(escrowKey!, { cn: 'Escrow' });
    const registerEscrow = () =>
      api.call('PUT', `${base}/escrow-certificate`, { token: admin, json: { certificate: escrow.certPem } });
    // Registered first, so every upload below is also sealed to it.
    expect((await registerEscrow()).status).toBe(200);
    expect(
      (
        await api.call('PUT', `${base}/escrow-certificate`, {
          token: admin,
          json: { certificate: `${escrow.certPem}${escrow.keyPem}` },
        })
      ).status,
    ).toBe(400);

    expect(
      (
        await api.call('POST', `${base}/certificates/preview`, {
          token: admin,
          json: { certificate: good.certPem, privateKey: good.keyPem },
        })
      ).status,
    ).toBe(200);
    const up = await api.upload(admin, tenant, good);
    expect(up.status).toBe(201);
    expect((await api.upload(admin, tenant, good)).status).toBe(409);
    expect(
      (await api.upload(admin, tenant, { certPem: pairFor(k2).certPem, keyPem: good.keyPem })).json.error
        .code,
    ).toBe('KEY_MISMATCH');
    const pkcs1 = pairFor(k3);
    const pkcs1Pem = k3.export({ format: 'pem', type: 'pkcs1' }).toString();
    const pkcs1Upload = await api.upload(admin, tenant, { certPem: pkcs1.certPem, keyPem: pkcs1Pem });
    expect(pkcs1Upload.status).toBe(flow === 'aws' ? 201 : 400);
    const encryptedPem = k1
      .export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'correct horse' })
      .toString();
    const wrongPassword = await api.call('POST', `${base}/certificates`, {
      token: admin,
      json: { certificate: other.certPem, privateKey: encryptedPem, privateKeyPassword: 'wrong' },
    });
    expect(wrongPassword.json.error.code).toBe('PRIVATE_KEY_ENCRYPTED');
    const rightPassword = await api.call('POST', `${base}/certificates`, {
      token: admin,
      json: { certificate: other.certPem, privateKey: encryptedPem, privateKeyPassword: 'correct horse' },
    });
    // Encrypted PKCS#8 is PKCS#8: both flows accept it with its password.
    expect(rightPassword.status).toBe(201);
    const truncated = good.keyPem.slice(0, good.keyPem.length / 2) + good.keyPem.slice(-30);
    expect(
      (await api.upload(admin, tenant, { certPem: pairFor(k2).certPem, keyPem: truncated })).status,
    ).toBe(400);
    expect(
      (
        await api.call('POST', `${base}/certificates`, {
          token: admin,
          json: { certificate: good.keyPem, privateKey: good.keyPem },
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await api.call('POST', `${base}/certificates`, {
          token: admin,
          json: { certificate: `${good.certPem}${good.keyPem}`, privateKey: good.keyPem },
        })
      ).status,
    ).toBe(400);

    // Multipart, the documented browser form.
    const form = new FormData();
    const third = pairFor(k2);
    form.set('certificate', new Blob([third.certPem]), 'cert.pem');
    form.set('privateKey', new Blob([third.keyPem]), 'key.pem');
    form.set('privateKeyPassword', '');
    const multipart = await fetch(`${h.runtime.url}${base}/certificates`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}` },
      body: form,
    });
    const multipartText = await multipart.text();
    api.bodies.push(multipartText);
    expect(multipart.status).toBe(201);
    // The azure flow assigns each upload to 'record', retiring the one before: use the newest.
    const current = flow === 'aws' ? (up.json.id as string) : (JSON.parse(multipartText).id as string);

    const id = up.json.id as string;
    const verify = (keyPem: string) =>
      api.call('POST', `${base}/certificates/${id}/verify-key`, {
        token: admin,
        json: { privateKey: keyPem },
      });
    expect((await verify(good.keyPem)).json).toEqual({ matches: true });
    expect((await verify(other.keyPem)).json).toEqual({ matches: false });
    expect((await verify(truncated)).status).toBe(400);
    expect((await api.call('GET', `${base}/certificates`, { token: admin })).status).toBe(200);
    expect((await api.call('GET', `${base}/certificates/${id}`, { token: admin })).status).toBe(200);
    expect(
      (
        await api.call('PUT', `${base}/ivr-profiles/record/recording-certificate`, {
          token: admin,
          json: { certificateId: current },
        })
      ).status,
    ).toBe(202);
    await h.runtime.events.idle();
    expect((await api.call('GET', `${base}/ivr-profiles/record`, { token: admin })).status).toBe(200);
    expect(
      (
        await api.call('PATCH', `${base}/screen-recording-certificates`, {
          token: admin,
          json: { add: [current] },
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await api.call('POST', '/v1/expiry-scan', {
          token: operator,
          // A scan may not run ahead of the server clock (issue 13, #12).
          json: { now: new Date().toISOString() },
        })
      ).status,
    ).toBe(200);
    expect((await api.call('GET', `${base}/notifications`, { token: admin })).status).toBe(200);

    const plaintext = randomBytes(4096);
    const cms = await encryptFor(good.certPem, plaintext);
    const decrypted = await fetch(`${h.runtime.url}${base}/recordings/decrypt`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/cms' },
      body: cms,
    });
    const clear = Buffer.from(await decrypted.arrayBuffer());
    expect(clear.equals(plaintext)).toBe(true);
    api.bodies.push(clear.toString('latin1'));
    const wrongCms = await encryptFor(pairFor(k2).certPem, plaintext);
    const refused = await api.call('POST', `${base}/recordings/decrypt`, {
      token: admin,
      body: wrongCms,
      contentType: 'application/cms',
    });
    expect(refused.status).toBe(422);

    // Replacing the escrow certificate re-escrows every key; the backup is one more response.
    expect((await registerEscrow()).status).toBe(200);
    expect((await api.call('GET', `${base}/escrow-certificate`, { token: admin })).status).toBe(200);
    const backup = await fetch(`${h.runtime.url}${base}/key-backup`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(backup.status).toBe(200);
    const backupBytes = Buffer.from(await backup.arrayBuffer());
    api.bodies.push(backupBytes.toString('latin1'));
    const copies = await (h.runtime.deps.escrow as EscrowStore).listEscrowCopies(tenant);
    expect(copies.length).toBeGreaterThanOrEqual(3);
    for (const copy of copies) hits.push(...scanner.scan(`${flow}:escrow-copy`, copy.cms));

    const forced = rightPassword.json.id as string;
    expect(
      (await api.call('DELETE', `${base}/certificates/${forced}?force=true`, { token: admin })).status,
    ).toBe(204);
    const audit = await api.call('GET', `${base}/audit`, { token: admin });
    expect(audit.status).toBe(200);

    // Scan what this flow produced: bodies, logs, the audit trail as stored, the data dir.
    for (const [i, body] of api.bodies.entries()) hits.push(...scanner.scan(`${flow}:response#${i}`, body));
    for (const [i, line] of h.logs.entries()) hits.push(...scanner.scan(`${flow}:log#${i}`, line));
    const stored = await h.repo.listAudit(tenant, 10_000);
    hits.push(...scanner.scan(`${flow}:audit`, JSON.stringify(stored)));
    hits.push(...scanner.scanDir(h.dataDir, `${flow}:data`));
    for (const file of readdirSync(join(h.dataDir, 'keys', tenant))) {
      hits.push(...scanner.scan(`${flow}:keyfile`, readFileSync(join(h.dataDir, 'keys', tenant, file))));
    }
    counts.requests += api.bodies.length;
    counts.logLines += h.logs.length;
    counts.auditEntries += stored.length;
    expect(stored.length).toBeGreaterThan(3);
    expect(hits).toEqual([]);
  });
});
