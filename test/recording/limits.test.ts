/**
 * What one recording may cost the decryptor (DESIGN section 9): at most 16 RecipientInfos of any
 * kind, refused while the header is read, and at most 4 unwrap attempts however many
 * recipients name a key that is held.
 */
import { generateKeyPairSync } from 'node:crypto';
import { Readable } from 'node:stream';
import { AppError } from '../../shared/errors';
import { buildSelfSigned } from '../../shared/pki/builder';
import {
  decryptStream,
  MAX_KEY_OPERATIONS,
  MAX_RECIPIENTS,
  PrivateKeyUnwrapper,
  type RecipientId,
  type SessionKeyUnwrapper,
} from '../../shared/recording';
import { forgedRecipient, kekRecipient, recipientInfosOf, withRecipientInfos } from './forge';
import { encryptBuffer } from './helpers';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 0, 15);

function pair(cn: string) {
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const cert = buildSelfSigned(key, {
    subject: [['CN', cn]],
    notBefore: new Date(NOW - DAY),
    notAfter: new Date(NOW + 365 * DAY),
  });
  return { key, certPem: cert.pem };
}

/** Counts the unwrap calls of the real unwrapper it wraps. */
class CountingUnwrapper implements SessionKeyUnwrapper {
  calls = 0;
  constructor(private readonly inner: SessionKeyUnwrapper) {}
  unwrap(recipient: RecipientId, wrappedKey: Buffer): Promise<Buffer> {
    this.calls++;
    return this.inner.unwrap(recipient, wrappedKey);
  }
}

async function outcome(
  input: Readable,
  unwrapper: SessionKeyUnwrapper,
  certificates?: string[],
): Promise<{ code: string; plaintextBytes: number; bytesRead: number }> {
  let bytesRead = 0;
  input.on('data', (c: Buffer) => {
    bytesRead += c.length;
  });
  const { plaintext, completed } = decryptStream(input, unwrapper, certificates ? { certificates } : {});
  let plaintextBytes = 0;
  plaintext.on('data', (c: Buffer) => {
    plaintextBytes += c.length;
  });
  plaintext.on('error', () => undefined);
  const code = await completed.then(
    () => 'OK',
    (error: unknown) => (error instanceof AppError ? error.code : String(error)),
  );
  return { code, plaintextBytes, bytesRead };
}

const tenant = pair('tenant');
const audio = Buffer.alloc(5000, 7);
let genuine: Buffer;

beforeAll(async () => {
  genuine = await encryptBuffer(audio, [tenant.certPem]);
});

describe('decryptor work limits', () => {
  it('refuses 1,000 recipients naming the certificate with TOO_MANY_RECIPIENTS and no unwrap', async () => {
    const unwrapper = new CountingUnwrapper(
      new PrivateKeyUnwrapper({ privateKey: tenant.key, certificate: tenant.certPem }),
    );
    const forged = Array.from({ length: 1000 }, () => forgedRecipient(tenant.certPem));
    const cms = withRecipientInfos(genuine, [...forged, ...recipientInfosOf(genuine)]);
    // Fed slowly, so that "decided while the header is read" shows as input left unread.
    const pieces = Array.from({ length: Math.ceil(cms.length / 4096) }, (_, i) =>
      cms.subarray(i * 4096, (i + 1) * 4096),
    );
    const result = await outcome(Readable.from(pieces, { highWaterMark: 1 }), unwrapper, [tenant.certPem]);
    expect(result.code).toBe('TOO_MANY_RECIPIENTS');
    expect(unwrapper.calls).toBe(0);
    expect(result.plaintextBytes).toBe(0);
    expect(result.bytesRead).toBeLessThan(cms.length / 4);
  });

  it('refuses too many recipients in an indefinite-length set as well, and accepts a few', async () => {
    const unwrapper = new PrivateKeyUnwrapper({ privateKey: tenant.key, certificate: tenant.certPem });
    const forged = Array.from({ length: 20 }, () => forgedRecipient(tenant.certPem));
    const many = withRecipientInfos(genuine, [...forged, ...recipientInfosOf(genuine)], { indefinite: true });
    expect((await outcome(Readable.from([many]), unwrapper, [tenant.certPem])).code).toBe(
      'TOO_MANY_RECIPIENTS',
    );
    const few = withRecipientInfos(genuine, [...forged.slice(0, 2), ...recipientInfosOf(genuine)], {
      indefinite: true,
    });
    expect((await outcome(Readable.from([few]), unwrapper, [tenant.certPem])).code).toBe('OK');
  });

  it('counts every kind of RecipientInfo towards the limit', async () => {
    const unwrapper = new CountingUnwrapper(
      new PrivateKeyUnwrapper({ privateKey: tenant.key, certificate: tenant.certPem }),
    );
    const kek = Array.from({ length: MAX_RECIPIENTS }, () => kekRecipient());
    const cms = withRecipientInfos(genuine, [...kek, ...recipientInfosOf(genuine)]);
    const result = await outcome(Readable.from([cms]), unwrapper, [tenant.certPem]);
    expect(result.code).toBe('TOO_MANY_RECIPIENTS');
    expect(unwrapper.calls).toBe(0);
  });

  it(`opens a recording with exactly ${MAX_RECIPIENTS} recipients`, async () => {
    const others = Array.from({ length: MAX_RECIPIENTS - 1 }, (_, i) => pair(`other ${i}`).certPem);
    const cms = await encryptBuffer(audio, [...others, tenant.certPem]);
    const unwrapper = new PrivateKeyUnwrapper({ privateKey: tenant.key, certificate: tenant.certPem });
    expect((await outcome(Readable.from([cms]), unwrapper, [tenant.certPem])).code).toBe('OK');
  });

  it(`makes at most ${MAX_KEY_OPERATIONS} unwrap attempts when 16 recipients name the certificate`, async () => {
    const unwrapper = new CountingUnwrapper(
      new PrivateKeyUnwrapper({ privateKey: tenant.key, certificate: tenant.certPem }),
    );
    const forged = Array.from({ length: 15 }, () => forgedRecipient(tenant.certPem));
    // The genuine recipient last: it is never reached.
    const cms = withRecipientInfos(genuine, [...forged, ...recipientInfosOf(genuine)]);
    const result = await outcome(Readable.from([cms]), unwrapper, [tenant.certPem]);
    expect(result.code).toBe('NO_MATCHING_KEY');
    expect(unwrapper.calls).toBe(MAX_KEY_OPERATIONS);
    expect(result.plaintextBytes).toBe(0);
  });

  it('bounds a key tried on every recipient (no certificate, as the CLI without --cert) the same way', async () => {
    const unwrapper = new CountingUnwrapper(new PrivateKeyUnwrapper({ privateKey: tenant.key }));
    const strangers = Array.from({ length: 10 }, (_, i) => forgedRecipient(pair(`stranger ${i}`).certPem));
    const cms = withRecipientInfos(genuine, [...strangers, ...recipientInfosOf(genuine)]);
    const result = await outcome(Readable.from([cms]), unwrapper);
    expect(result.code).toBe('NO_MATCHING_KEY');
    expect(unwrapper.calls).toBe(MAX_KEY_OPERATIONS);
  });

  it('opens the genuine recipient when it comes within the attempts', async () => {
    const unwrapper = new CountingUnwrapper(new PrivateKeyUnwrapper({ privateKey: tenant.key }));
    const strangers = Array.from({ length: MAX_KEY_OPERATIONS - 1 }, () => forgedRecipient(tenant.certPem));
    const cms = withRecipientInfos(genuine, [...strangers, ...recipientInfosOf(genuine)]);
    const result = await outcome(Readable.from([cms]), unwrapper);
    expect(result).toMatchObject({ code: 'OK', plaintextBytes: audio.length });
    expect(unwrapper.calls).toBe(MAX_KEY_OPERATIONS);
  });
});
