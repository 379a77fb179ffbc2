/**
 * The playback use case over the real local adapters: verify before release, audit before
 * release, and what happens when the audit store or the client fails (faults injected).
 */
import { readdirSync, readlinkSync } from 'node:fs';
import * as os from 'node:os';
import { PassThrough, Readable } from 'node:stream';
import { uploadCertificate } from '../../shared/usecases/certificate-upload';
import { decryptRecording } from '../../shared/usecases/recordings';
import { type TestCore, testCore } from '../helpers/core';
import { daysFrom, FIXED_NOW, makePair, rsaKey } from '../helpers/pki';
import { encryptBuffer } from './helpers';

const player = { subject: 'player' };
const MiB = 1024 * 1024;

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Spool files of this process still open in the temp folder. */
function openSpools(): string[] {
  const tmp = os.tmpdir();
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(`${tmp}/reccert-spool-`) ? [target] : [];
    } catch {
      return [];
    }
  });
}

let core: TestCore;
let certPem: string;
let certificateId: string;

beforeEach(async () => {
  core = testCore();
  const pair = makePair({
    key: rsaKey('playback'),
    notBefore: daysFrom(FIXED_NOW, -1),
    notAfter: daysFrom(FIXED_NOW, 365),
  });
  certPem = pair.certPem;
  const cert = await uploadCertificate(core.deps, { subject: 'admin' }, 'acme', {
    certificate: pair.certPem,
    privateKey: pair.keyPem,
  });
  certificateId = cert.id;
});

afterEach(() => core.close());

async function playbackAudit() {
  return (await core.repo.listAudit('acme', 20)).filter((e) => e.action === 'recording.decrypt');
}

describe('decryptRecording', () => {
  it('returns a verified recording larger than memory holds (spilled, sealed) and audits it first', async () => {
    const plaintext = Buffer.alloc(9 * MiB, 'a recording ');
    const cms = await encryptBuffer(plaintext, [certPem]);
    const playback = await decryptRecording(core.deps, player, 'acme', Readable.from([cms]));
    expect((await playbackAudit())[0]).toMatchObject({
      actor: 'player',
      certificateId,
      details: { outcome: 'decrypted', bytes: plaintext.length, unwrapAttempts: 1 },
    });
    expect(playback.bytes).toBe(plaintext.length);
    expect((await readAll(playback.plaintext)).equals(plaintext)).toBe(true);
    await playback.delivered;
    expect(openSpools()).toEqual([]);
  });

  it('audits the certificate whose recipient opened the recording, among several of the tenant', async () => {
    const other = makePair({
      key: rsaKey('playback-other'),
      notBefore: daysFrom(FIXED_NOW, -1),
      notAfter: daysFrom(FIXED_NOW, 365),
    });
    const second = await uploadCertificate(core.deps, { subject: 'admin' }, 'acme', {
      certificate: other.certPem,
      privateKey: other.keyPem,
    });
    const cms = await encryptBuffer(Buffer.alloc(1000, 5), [other.certPem]);

    const playback = await decryptRecording(core.deps, player, 'acme', Readable.from([cms]));

    expect((await readAll(playback.plaintext)).length).toBe(1000);
    expect((await playbackAudit())[0]).toMatchObject({
      certificateId: second.id,
      details: { outcome: 'decrypted', unwrapAttempts: 1 },
    });
  });

  it('releases nothing and answers 503 when the playback cannot be audited', async () => {
    core.repo.appendAudit = async () => {
      throw new Error('audit table unavailable');
    };
    const cms = await encryptBuffer(Buffer.alloc(6 * MiB, 1), [certPem]);
    await expect(decryptRecording(core.deps, player, 'acme', Readable.from([cms]))).rejects.toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
    });
    expect(openSpools()).toEqual([]);
  });

  it('audits a client that goes away mid-upload and keeps nothing', async () => {
    const cms = await encryptBuffer(Buffer.alloc(6 * MiB, 2), [certPem]);
    const input = new PassThrough();
    const playback = decryptRecording(core.deps, player, 'acme', input);
    input.write(cms.subarray(0, 5 * MiB));
    await new Promise((r) => setTimeout(r, 50));
    input.destroy(new Error('aborted'));
    await expect(playback).rejects.toThrow(/client went away/);
    expect((await playbackAudit())[0]).toMatchObject({
      certificateId,
      details: { outcome: 'failed', code: 'CLIENT_ABORTED', unwrapAttempts: 1 },
    });
    expect(openSpools()).toEqual([]);
  });

  it('answers PAYLOAD_TOO_LARGE for a genuine recording over the limit, INTEGRITY_CHECK_FAILED for a damaged one', async () => {
    const cms = await encryptBuffer(Buffer.alloc(2 * MiB, 3), [certPem]);
    const limits = { maxPlaintextBytes: MiB };
    await expect(
      decryptRecording(core.deps, player, 'acme', Readable.from([cms]), limits),
    ).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
    const damaged = Buffer.from(cms);
    damaged[damaged.length - 1]! ^= 1;
    await expect(
      decryptRecording(core.deps, player, 'acme', Readable.from([damaged]), limits),
    ).rejects.toMatchObject({ code: 'INTEGRITY_CHECK_FAILED' });
    expect((await playbackAudit()).map((e) => e.details?.code)).toEqual([
      'INTEGRITY_CHECK_FAILED',
      'PAYLOAD_TOO_LARGE',
    ]);
  });

  it('releases the spool when the plaintext is abandoned before its end', async () => {
    const cms = await encryptBuffer(Buffer.alloc(8 * MiB, 4), [certPem]);
    const playback = await decryptRecording(core.deps, player, 'acme', Readable.from([cms]));
    expect(openSpools()).toHaveLength(1);
    playback.plaintext.destroy();
    await expect(playback.delivered).rejects.toThrow(/abandoned/);
    expect(openSpools()).toEqual([]);
  });
});
