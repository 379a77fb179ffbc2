import { constants, createHash, createPrivateKey, privateDecrypt } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  createEncryptStream,
  decryptFile,
  decryptStream,
  encryptFile,
  PrivateKeyUnwrapper,
  READ_CHUNK_SIZE,
  type SessionKeyUnwrapper,
} from '../../shared/recording';
import {
  type KeyPair,
  listDir,
  makeKeyPair,
  opensslDecrypt,
  opensslEncrypt,
  sha256File,
  tempDir,
  writeSeededFile,
} from './helpers';

const MiB = 1024 * 1024;

let dir: string;
let alice: KeyPair;
let bob: KeyPair;

beforeAll(async () => {
  dir = await tempDir('interop');
  [alice, bob] = await Promise.all([makeKeyPair(dir, 'alice'), makeKeyPair(dir, 'bob')]);
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Our encryptor without a length: BER indefinite, as a stream source would produce. */
async function encryptStreaming(inPath: string, outPath: string, certs: string[]): Promise<void> {
  await pipeline(
    createReadStream(inPath, { highWaterMark: 64 * 1024 }),
    createEncryptStream(certs),
    createWriteStream(outPath),
  );
}

const SIZES: Array<[string, number]> = [
  ['empty', 0],
  ['one byte', 1],
  ['exactly one read chunk', READ_CHUNK_SIZE],
  ['a few MiB', 3 * MiB + 17],
];

describe.each(SIZES)('recording encryption interop with openssl, %s', (label, size) => {
  let plainPath: string;
  let digest: string;
  const file = (name: string) => path.join(dir, `${label.replace(/ /g, '-')}.${name}`);

  beforeAll(async () => {
    plainPath = file('wav');
    digest = await writeSeededFile(plainPath, size, label);
  });

  it('decrypts what openssl cms -encrypt writes as DER', async () => {
    await opensslEncrypt(plainPath, file('ossl.cms'), [alice]);
    const result = await decryptFile(file('ossl.cms'), file('ossl.out'), alice.unwrapper);
    expect(await sha256File(file('ossl.out'))).toBe(digest);
    expect(result.bytesOut).toBe(size);
  });

  it('decrypts what openssl cms -encrypt -stream writes (BER)', async () => {
    // OpenSSL 3.0 cannot write -stream output for an empty input ("Error writing CMS output"),
    // so the empty case streams a one-byte file's sibling: our own streamed output covers size 0.
    const source = size === 0 ? file('one.wav') : plainPath;
    const expected = size === 0 ? await writeSeededFile(source, 1, 'stream-empty') : digest;
    await opensslEncrypt(source, file('ossl-stream.cms'), [alice], { stream: true });
    await decryptFile(file('ossl-stream.cms'), file('ossl-stream.out'), alice.unwrapper, {
      certificates: [alice.certPem],
    });
    expect(await sha256File(file('ossl-stream.out'))).toBe(expected);
  });

  it('writes DER that openssl cms -decrypt opens', async () => {
    await encryptFile(plainPath, file('ours.cms'), [alice.certPem]);
    await opensslDecrypt(file('ours.cms'), file('ours.out'), alice);
    expect(await sha256File(file('ours.out'))).toBe(digest);
    const stat = await fs.stat(file('ours.cms'));
    // DER: the outer length covers the whole file
    const head = (await fs.readFile(file('ours.cms'))).subarray(0, 2);
    expect(head[0]).toBe(0x30);
    expect(head[1]).not.toBe(0x80);
    expect(stat.size).toBeGreaterThan(size);
  });

  it('writes streamed BER that openssl cms -decrypt and our decryptor open', async () => {
    await encryptStreaming(plainPath, file('ours-stream.cms'), [alice.certPem]);
    const head = (await fs.readFile(file('ours-stream.cms'))).subarray(0, 2);
    expect([...head]).toEqual([0x30, 0x80]);
    await opensslDecrypt(file('ours-stream.cms'), file('ours-stream.ossl.out'), alice);
    expect(await sha256File(file('ours-stream.ossl.out'))).toBe(digest);
    await decryptFile(file('ours-stream.cms'), file('ours-stream.out'), alice.unwrapper);
    expect(await sha256File(file('ours-stream.out'))).toBe(digest);
  });
});

describe('recording encryption to several recipients', () => {
  let plainPath: string;
  let digest: string;

  beforeAll(async () => {
    plainPath = path.join(dir, 'two.wav');
    digest = await writeSeededFile(plainPath, 100_000, 'two recipients');
  });

  it('opens an openssl message for two recipients with either key', async () => {
    const cms = path.join(dir, 'two.ossl.cms');
    await opensslEncrypt(plainPath, cms, [alice, bob]);
    for (const who of [alice, bob]) {
      const out = path.join(dir, `two.ossl.${who.name}.out`);
      const result = await decryptFile(cms, out, who.unwrapper, { certificates: [who.certPem] });
      expect(await sha256File(out)).toBe(digest);
      expect(result.recipient.issuerDer.toString('latin1')).toContain(who.name);
    }
  });

  it('writes a message for two recipients that openssl opens with either key', async () => {
    const cms = path.join(dir, 'two.ours.cms');
    await encryptFile(plainPath, cms, [alice.certPem, bob.certPem]);
    for (const who of [alice, bob]) {
      const out = path.join(dir, `two.ours.${who.name}.out`);
      await opensslDecrypt(cms, out, who);
      expect(await sha256File(out)).toBe(digest);
    }
  });

  it('finds its recipient without being told its certificate', async () => {
    const cms = path.join(dir, 'two.ours.cms');
    const out = path.join(dir, 'two.ours.nocert.out');
    const result = await decryptFile(cms, out, bob.unwrapper);
    expect(await sha256File(out)).toBe(digest);
    expect(result.recipient.issuerDer.toString('latin1')).toContain('bob');
  });

  it('tells the unwrapper and the result which of the given certificates a recipient matched', async () => {
    const cms = path.join(dir, 'two.which.cms');
    await encryptFile(plainPath, cms, [alice.certPem, bob.certPem]);
    const certificates = [bob.certPem, alice.certPem];
    for (const [who, index] of [
      [alice, 1],
      [bob, 0],
    ] as const) {
      const asked: (number | undefined)[] = [];
      const unwrapper: SessionKeyUnwrapper = {
        unwrap: (recipient, wrappedKey) => {
          asked.push(recipient.certificate);
          return who.unwrapper.unwrap(recipient, wrappedKey);
        },
      };
      const out = path.join(dir, `two.which.${who.name}.out`);

      const result = await decryptFile(cms, out, unwrapper, { certificates });

      expect(await sha256File(out)).toBe(digest);
      expect(result.recipient).toMatchObject({ certificate: index });
      expect(result.recipient.issuerDer.toString('latin1')).toContain(who.name);
      expect(asked[asked.length - 1]).toBe(index);
      expect(asked.every((i) => i === 0 || i === 1)).toBe(true);
    }
  });
});

describe('recording decryption refusals', () => {
  let plainPath: string;
  let carol: KeyPair;

  beforeAll(async () => {
    plainPath = path.join(dir, 'refuse.wav');
    await writeSeededFile(plainPath, 5000, 'refusals');
    carol = await makeKeyPair(dir, 'carol');
  });

  async function expectRefused(
    cmsPath: string,
    unwrapper: PrivateKeyUnwrapper,
    code: string,
    certs?: string[],
  ) {
    const outDir = await fs.mkdtemp(path.join(dir, 'refused-'));
    const out = path.join(outDir, 'rec.wav');
    await expect(
      decryptFile(cmsPath, out, unwrapper, certs ? { certificates: certs } : {}),
    ).rejects.toMatchObject({ code });
    expect(await listDir(outDir)).toEqual([]);
    await fs.rm(outDir, { recursive: true });
  }

  it('refuses a message for someone else with NO_MATCHING_KEY and names the serials', async () => {
    const cms = path.join(dir, 'for-alice.cms');
    await encryptFile(plainPath, cms, [alice.certPem]);
    await expectRefused(cms, carol.unwrapper, 'NO_MATCHING_KEY', [carol.certPem]);
    await expectRefused(cms, carol.unwrapper, 'NO_MATCHING_KEY');
    await expect(
      decryptFile(cms, path.join(dir, 'x.out'), carol.unwrapper, { certificates: [carol.certPem] }),
    ).rejects.toThrow(/encrypted for certificate serial/);
  });

  it('refuses a wrong private key presented under the right certificate with NO_MATCHING_KEY', async () => {
    const cms = path.join(dir, 'for-alice.cms');
    // An unwrapper that answers for any recipient with carol's key: the OAEP unwrap fails.
    const impostor: SessionKeyUnwrapper = {
      unwrap: async (_recipient, wrapped) =>
        privateDecrypt(
          { key: carol.keyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
          wrapped,
        ),
    };
    const outDir = await fs.mkdtemp(path.join(dir, 'impostor-'));
    await expect(decryptFile(cms, path.join(outDir, 'o'), impostor)).rejects.toMatchObject({
      code: 'NO_MATCHING_KEY',
    });
    expect(await listDir(outDir)).toEqual([]);
  });

  it('refuses inputs that are not AuthEnvelopedData with NOT_CMS', async () => {
    const cases: Array<[string, Buffer]> = [
      ['empty', Buffer.alloc(0)],
      ['random bytes', createHash('sha512').update('noise').digest()],
      ['a WAV header', Buffer.from('RIFF\x24\x08\x00\x00WAVEfmt ', 'latin1')],
      ['PEM text', Buffer.from(`-----BEGIN CMS-----\nMIAGCSqGSIb3DQEHA6CAMIACAQAx\n-----END CMS-----\n`)],
      [
        'a certificate',
        await fs
          .readFile(alice.certPath)
          .then((pem) => Buffer.from(pem.toString().replace(/-----[^-]+-----|\s/g, ''), 'base64')),
      ],
    ];
    for (const [name, bytes] of cases) {
      const p = path.join(dir, `notcms-${name.replace(/ /g, '-')}.bin`);
      await fs.writeFile(p, bytes);
      await expectRefused(p, alice.unwrapper, 'NOT_CMS');
    }
  });

  it('refuses AES-CBC EnvelopedData and PKCS#1 v1.5 key transport with NOT_CMS and says how to fix it', async () => {
    const cbc = path.join(dir, 'cbc.cms');
    await opensslEncrypt(plainPath, cbc, [alice], { cipher: '-aes-256-cbc' });
    await expectRefused(cbc, alice.unwrapper, 'NOT_CMS');
    await expect(decryptFile(cbc, path.join(dir, 'cbc.out'), alice.unwrapper)).rejects.toThrow(
      /EnvelopedData/,
    );

    const v15 = path.join(dir, 'v15.cms');
    await opensslEncrypt(plainPath, v15, [alice], { oaep: false });
    await expectRefused(v15, alice.unwrapper, 'NOT_CMS');
    await expect(decryptFile(v15, path.join(dir, 'v15.out'), alice.unwrapper)).rejects.toThrow(
      /rsa_oaep_md:sha256/,
    );
  });

  it('loads an encrypted PEM key with its password and refuses a wrong one', async () => {
    const encrypted = createPrivateKey(alice.keyPem).export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: 'correct horse',
    }) as string;
    const unwrapper = new PrivateKeyUnwrapper({
      privateKey: encrypted,
      password: 'correct horse',
      certificate: alice.certPem,
    });
    const cms = path.join(dir, 'for-alice.cms');
    await decryptFile(cms, path.join(dir, 'pw.out'), unwrapper);
    expect(
      () => new PrivateKeyUnwrapper({ privateKey: encrypted, password: 'wrong', certificate: alice.certPem }),
    ).toThrow(expect.objectContaining({ code: 'PRIVATE_KEY_ENCRYPTED' }));
    expect(() => new PrivateKeyUnwrapper({ privateKey: carol.keyPem, certificate: alice.certPem })).toThrow(
      expect.objectContaining({ code: 'KEY_MISMATCH' }),
    );
  });
});

describe('recording decryption of a large streamed file', () => {
  it('round-trips ~200 MiB through openssl -stream and ours in constant memory', async () => {
    const size = 200 * MiB + 12345;
    const plainPath = path.join(dir, 'large.wav');
    const digest = await writeSeededFile(plainPath, size, 'large');
    const cms = path.join(dir, 'large.ossl.cms');
    await opensslEncrypt(plainPath, cms, [alice], { stream: true });

    const baseline = process.memoryUsage();
    let peakRss = baseline.rss;
    let peakBuffers = baseline.arrayBuffers;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakBuffers = Math.max(peakBuffers, m.arrayBuffers);
    }, 20);
    const hash = createHash('sha256');
    const { plaintext, completed } = decryptStream(
      createReadStream(cms, { highWaterMark: READ_CHUNK_SIZE }),
      alice.unwrapper,
    );
    await pipeline(
      plaintext,
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          cb();
        },
      }),
    );
    const result = await completed;
    clearInterval(sampler);
    expect(result.bytesOut).toBe(size);
    expect(hash.digest('hex')).toBe(digest);
    // Constant memory: buffers stay far below the file (200 MiB). Chunks already passed on count
    // until the collector runs, which on a busy machine can be late: 58 MiB was seen under a full
    // parallel run, a few read chunks alone; a decryptor that held the file would pass 200 MiB.
    expect(peakBuffers - baseline.arrayBuffers).toBeLessThan(96 * MiB);
    expect(peakRss - baseline.rss).toBeLessThan(96 * MiB);

    // And the other way: ours streamed, openssl decrypts.
    const oursCms = path.join(dir, 'large.ours.cms');
    await encryptStreaming(plainPath, oursCms, [alice.certPem]);
    const out = path.join(dir, 'large.ours.out');
    await opensslDecrypt(oursCms, out, alice);
    expect(await sha256File(out)).toBe(digest);
    await Promise.all([plainPath, cms, oursCms, out].map((p) => fs.rm(p)));
  });
});
