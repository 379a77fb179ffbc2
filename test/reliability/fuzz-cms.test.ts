/**
 * The streaming CMS decryptor under fuzzing (issue 9): genuine AuthEnvelopedData recordings (DER
 * and BER streams, one and two recipients) mutated structurally and byte-wise, non-CMS input and
 * random bytes, fed in random chunk sizes. Every outcome must be the original plaintext (GCM lets
 * nothing else through) or NOT_CMS / NO_MATCHING_KEY / INTEGRITY_CHECK_FAILED, within a time bound.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { buildSelfSigned } from '../../shared/pki/builder';
import { createEncryptStream, decryptStream, PrivateKeyUnwrapper } from '../../shared/recording';
import { daysFrom } from '../helpers/pki';
import {
  assertProperty,
  DerSeeds,
  derPlanArb,
  FUZZ_SEED,
  runAsyncCase,
  runs,
  writeFuzzFigures,
} from './fuzz-helpers';

const CMS_CODES = ['NOT_CMS', 'NO_MATCHING_KEY', 'INTEGRITY_CHECK_FAILED', 'TOO_MANY_RECIPIENTS'];
const NOW = new Date();

interface Seed {
  cms: Buffer;
  plaintext: Buffer;
}

let seeds: Seed[];
let messages: DerSeeds;
let unwrapper: PrivateKeyUnwrapper;
let certPem: string;

function certificateFor(key: KeyObject, cn: string): string {
  return buildSelfSigned(key, {
    subject: [['CN', cn]],
    notBefore: daysFrom(NOW, -1),
    notAfter: daysFrom(NOW, 365),
  }).pem;
}

async function encrypt(plaintext: Buffer, recipients: string[], definite: boolean): Promise<Buffer> {
  const encryptor = createEncryptStream(recipients, definite ? { contentLength: plaintext.length } : {});
  const chunks: Buffer[] = [];
  encryptor.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    encryptor.once('end', resolve);
    encryptor.once('error', reject);
  });
  encryptor.end(plaintext);
  await done;
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  const key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  certPem = certificateFor(key, 'Fuzz Recording');
  const otherPem = certificateFor(otherKey, 'Someone Else');
  unwrapper = new PrivateKeyUnwrapper({ privateKey: key, certificate: certPem });
  const audio = Buffer.from('RIFF fake wave data '.repeat(20));
  seeds = [
    { cms: await encrypt(audio, [certPem], true), plaintext: audio },
    { cms: await encrypt(audio, [otherPem, certPem], true), plaintext: audio },
    { cms: await encrypt(Buffer.alloc(0), [certPem], true), plaintext: Buffer.alloc(0) },
    { cms: await encrypt(audio, [certPem], false), plaintext: audio },
    { cms: await encrypt(audio, [otherPem], true), plaintext: audio },
  ];
  messages = new DerSeeds(seeds.map((s) => s.cms));
});

afterAll(() => {
  const figures = writeFuzzFigures('cms');
  process.stdout.write(`fuzz-cms: ${String(figures.cases)} cases, seed ${FUZZ_SEED}\n`);
});

function chunked(input: Buffer, size: number): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < input.length; i += size) parts.push(input.subarray(i, i + size));
  return Readable.from(parts);
}

/** Decrypts `input` fed in `chunk`-byte pieces; resolves with the plaintext once it proved genuine. */
async function decrypt(input: Buffer, chunk: number, withCertificates: boolean): Promise<Buffer> {
  const { plaintext, completed } = decryptStream(
    chunked(input, chunk),
    unwrapper,
    withCertificates ? { certificates: [certPem] } : {},
  );
  const out: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    plaintext.on('data', (c: Buffer) => out.push(c));
    plaintext.once('end', resolve);
    plaintext.once('error', reject);
  });
  await completed;
  return Buffer.concat(out);
}

const chunkArb = fc.oneof(
  fc.constant(1 << 20),
  fc.integer({ min: 1, max: 64 }),
  fc.integer({ min: 65, max: 4096 }),
);

describe('CMS decryptor under fuzzing', () => {
  it('a mutated recording decrypts to the original plaintext or fails with a documented code', async () => {
    await assertProperty(
      fc.asyncProperty(derPlanArb, chunkArb, fc.boolean(), async (plan, chunk, withCertificates) => {
        const input = messages.mutate(plan);
        const original = seeds[messages.seedIndex(plan)]!.plaintext;
        await runAsyncCase(
          'decryptor.mutated',
          { codes: CMS_CODES },
          () => decrypt(input, chunk, withCertificates),
          (plaintext) => {
            if (!plaintext.equals(original))
              throw new Error('a damaged recording decrypted to other plaintext');
          },
        );
      }),
      { numRuns: runs(16_000), seed: FUZZ_SEED, endOnFailure: true },
    );
  });

  it('random bytes, non-CMS DER and truncated recordings fail with a documented code', async () => {
    const inputArb = fc.oneof(
      fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
      // A real ContentInfo header followed by noise, so the parser gets a few levels deep.
      fc
        .tuple(fc.nat(), fc.integer({ min: 1, max: 120 }), fc.uint8Array({ maxLength: 512 }))
        .map(([i, cut, tail]) => {
          const cms = seeds[i % seeds.length]!.cms;
          return Buffer.concat([cms.subarray(0, cut), Buffer.from(tail)]);
        }),
      fc.tuple(fc.nat(), fc.nat()).map(([i, cut]) => {
        const cms = seeds[i % seeds.length]!.cms;
        return cms.subarray(0, cut % cms.length);
      }),
      fc.constantFrom(
        Buffer.from('-----BEGIN CMS-----\nMIAGCSqGSIb3DQEHA6CAMIACAQAxggE=\n-----END CMS-----\n'),
        Buffer.from(certPem),
        Buffer.alloc(0),
      ),
    );
    await assertProperty(
      fc.asyncProperty(inputArb, chunkArb, async (input, chunk) => {
        await runAsyncCase(
          'decryptor.hostile',
          { codes: CMS_CODES },
          () => decrypt(input, chunk, false),
          (plaintext) => {
            throw new Error(`hostile input decrypted to ${plaintext.length} bytes`);
          },
        );
      }),
      { numRuns: runs(8_000), seed: FUZZ_SEED, endOnFailure: true },
    );
  });

  it('the unmutated seeds decrypt (so the fuzzing starts from valid input)', async () => {
    expect((await decrypt(seeds[0]!.cms, 7, true)).equals(seeds[0]!.plaintext)).toBe(true);
    expect((await decrypt(seeds[3]!.cms, 100, false)).equals(seeds[3]!.plaintext)).toBe(true);
    await expect(decrypt(seeds[4]!.cms, 100, true)).rejects.toMatchObject({ code: 'NO_MATCHING_KEY' });
  });
});
