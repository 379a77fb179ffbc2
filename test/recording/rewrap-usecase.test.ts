/**
 * The rewrap use case over the real local adapters: unwrap through custody, verify before
 * release, audit before release, and the refusals of its targets.
 */
import { PassThrough, Readable } from 'node:stream';
import { decryptStream, PrivateKeyUnwrapper } from '../../shared/recording';
import { uploadCertificate } from '../../shared/usecases/certificate-upload';
import { rewrapRecording } from '../../shared/usecases/rewrap';
import { type TestCore, testCore } from '../helpers/core';
import { daysFrom, FIXED_NOW, makePair, rsaKey, type TestPair } from '../helpers/pki';
import { encryptBuffer } from './helpers';

const player = { subject: 'player' };
const MiB = 1024 * 1024;

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

let core: TestCore;
let old: TestPair;
let next: TestPair;
let oldId: string;
let nextId: string;

function pair(name: string): TestPair {
  return makePair({
    key: rsaKey(name),
    notBefore: daysFrom(FIXED_NOW, -1),
    notAfter: daysFrom(FIXED_NOW, 365),
  });
}

beforeEach(async () => {
  core = testCore();
  old = pair('rewrap-old');
  next = pair('rewrap-next');
  oldId = (
    await uploadCertificate(core.deps, { subject: 'admin' }, 'acme', {
      certificate: old.certPem,
      privateKey: old.keyPem,
    })
  ).id;
  nextId = (
    await uploadCertificate(core.deps, { subject: 'admin' }, 'acme', {
      certificate: next.certPem,
      privateKey: next.keyPem,
    })
  ).id;
});

afterEach(() => core.close());

async function rewrapAudit() {
  return (await core.repo.listAudit('acme', 20)).filter((e) => e.action === 'recording.rewrap');
}

/** Opens `cms` with `key` and returns the plaintext (throws when it does not open or verify). */
async function open(cms: Buffer, key: TestPair): Promise<Buffer> {
  const unwrapper = new PrivateKeyUnwrapper({ privateKey: key.keyPem, certificate: key.certPem });
  const { plaintext, completed } = decryptStream(Readable.from([cms]), unwrapper, {
    certificates: [key.certPem],
  });
  const bytes = await readAll(plaintext);
  await completed;
  return bytes;
}

describe('rewrapRecording', () => {
  it('rewraps through custody for the target, audits it before release, and the old key no longer opens it', async () => {
    const plaintext = Buffer.alloc(5 * MiB + 3, 'call audio ');
    const cms = await encryptBuffer(plaintext, [old.certPem]);

    const rewrapped = await rewrapRecording(core.deps, player, 'acme', [nextId], Readable.from([cms]));

    expect((await rewrapAudit())[0]).toMatchObject({
      actor: 'player',
      certificateId: oldId,
      details: { outcome: 'rewrapped', to: [nextId], unwrapAttempts: 1 },
    });
    const out = await readAll(rewrapped.cms);
    await rewrapped.delivered;
    expect(out.length).toBe(rewrapped.bytes);
    expect((await open(out, next)).equals(plaintext)).toBe(true);
    await expect(open(out, old)).rejects.toMatchObject({ code: 'NO_MATCHING_KEY' });
  });

  it('refuses an unknown target with NOT_FOUND before reading the recording, and audits it', async () => {
    const input = new PassThrough();

    await expect(rewrapRecording(core.deps, player, 'acme', ['f'.repeat(32)], input)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    expect((await rewrapAudit())[0]).toMatchObject({ details: { outcome: 'failed', code: 'NOT_FOUND' } });
  });

  it('refuses more than 4 targets with VALIDATION_ERROR', async () => {
    await expect(
      rewrapRecording(core.deps, player, 'acme', ['a', 'b', 'c', 'd', 'e'], new PassThrough()),
    ).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
  });

  it('releases nothing for a tampered recording and audits INTEGRITY_CHECK_FAILED', async () => {
    const cms = await encryptBuffer(Buffer.alloc(MiB, 7), [old.certPem]);
    cms[cms.length - 30]! ^= 0x01;

    await expect(
      rewrapRecording(core.deps, player, 'acme', [nextId], Readable.from([cms])),
    ).rejects.toMatchObject({ code: 'INTEGRITY_CHECK_FAILED' });
    expect((await rewrapAudit())[0]).toMatchObject({
      certificateId: oldId,
      details: { outcome: 'failed', code: 'INTEGRITY_CHECK_FAILED' },
    });
  });

  it('releases nothing and answers SERVICE_UNAVAILABLE when the rewrap cannot be audited', async () => {
    core.repo.appendAudit = async () => {
      throw new Error('audit table unavailable');
    };
    const cms = await encryptBuffer(Buffer.alloc(MiB, 1), [old.certPem]);

    await expect(
      rewrapRecording(core.deps, player, 'acme', [nextId], Readable.from([cms])),
    ).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', message: expect.stringContaining('rewrap') });
  });
});
