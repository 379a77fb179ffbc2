import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import {
  createEncryptStream,
  createTagVerifier,
  encryptFile,
  planRewrap,
  rewrapFile,
} from '../../shared/recording';
import { parseRecordingHeader } from '../../shared/recording/header/auth-enveloped-data';
import { makePair } from '../helpers/pki';
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

const run = promisify(execFile);
const MiB = 1024 * 1024;

let dir: string;
let alice: KeyPair;
let bob: KeyPair;
let carol: KeyPair;

beforeAll(async () => {
  dir = await tempDir('rewrap');
  [alice, bob, carol] = await Promise.all([
    makeKeyPair(dir, 'alice'),
    makeKeyPair(dir, 'bob'),
    makeKeyPair(dir, 'carol'),
  ]);
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

type Source = 'openssl DER' | 'openssl -stream' | 'reccert DER' | 'reccert BER indefinite';

async function encrypt(source: Source, plainPath: string, outPath: string, to: KeyPair[]): Promise<void> {
  switch (source) {
    case 'openssl DER':
      return opensslEncrypt(plainPath, outPath, to);
    case 'openssl -stream':
      return opensslEncrypt(plainPath, outPath, to, { stream: true });
    case 'reccert DER':
      await encryptFile(
        plainPath,
        outPath,
        to.map((k) => k.certPem),
      );
      return;
    case 'reccert BER indefinite':
      await pipeline(
        createReadStream(plainPath),
        createEncryptStream(to.map((k) => k.certPem)),
        createWriteStream(outPath),
      );
  }
}

/** The bytes after the recipientInfos: the content, the mac and the closing octets. */
function afterRecipients(cms: Buffer): Buffer {
  const header = parseRecordingHeader(cms, { contentTypeSeen: false });
  return cms.subarray(header.layout.recipientInfosEnd);
}

/** `openssl cms -cmsout -print` from the encrypted content info on: algorithm, content, mac. */
async function printedContentAndMac(cmsPath: string): Promise<string> {
  const { stdout } = await run('openssl', ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', cmsPath], {
    maxBuffer: 64 * MiB,
  });
  const from = stdout.indexOf('authEncryptedContentInfo:');
  expect(from).toBeGreaterThan(0);
  expect(stdout).toContain('mac:');
  return stdout.slice(from);
}

async function opensslOpens(cmsPath: string, key: KeyPair, plainPath: string): Promise<boolean> {
  const out = `${cmsPath}.${key.name}.out`;
  try {
    await opensslDecrypt(cmsPath, out, key);
  } catch {
    return false;
  }
  const same = (await sha256File(out)) === (await sha256File(plainPath));
  await fs.rm(out, { force: true });
  return same;
}

const SOURCES: Source[] = ['openssl DER', 'openssl -stream', 'reccert DER', 'reccert BER indefinite'];
const SIZES: Array<[string, number]> = [
  ['empty', 0],
  ['one byte', 1],
  ['a few MiB', 5 * MiB + 17],
];

describe.each(SOURCES)('rewrap of a recording from %s', (source) => {
  // openssl 3.0 cannot write an empty recording with -stream ("Error writing CMS output").
  const sizes = source === 'openssl -stream' ? SIZES.filter(([, size]) => size > 0) : SIZES;
  describe.each(sizes)('%s', (label, size) => {
    const file = (name: string) => path.join(dir, `${source}-${label}.${name}`.replace(/[ -]+/g, '-'));

    beforeAll(async () => {
      await writeSeededFile(file('plain'), size, `${source}${label}`);
      await encrypt(source, file('plain'), file('cms'), [alice]);
    });

    it('replaces the recipients: the new key opens it, the old one no longer does', async () => {
      const result = await rewrapFile(file('cms'), file('bob.cms'), alice.unwrapper, { to: [bob.certPem] });

      expect(result.recipients).toBe(1);
      expect(await opensslOpens(file('bob.cms'), bob, file('plain'))).toBe(true);
      expect(await opensslOpens(file('bob.cms'), alice, file('plain'))).toBe(false);
    });

    it('keeps the encrypted content and the tag byte-identical', async () => {
      await rewrapFile(file('cms'), file('same.cms'), alice.unwrapper, { to: [bob.certPem] });

      const [before, after] = await Promise.all([fs.readFile(file('cms')), fs.readFile(file('same.cms'))]);
      expect(afterRecipients(after).equals(afterRecipients(before))).toBe(true);
      if (size <= MiB) {
        expect(await printedContentAndMac(file('same.cms'))).toBe(await printedContentAndMac(file('cms')));
      }
    });

    it('keeps the input encoding: definite lengths stay definite, indefinite stay indefinite', async () => {
      await rewrapFile(file('cms'), file('form.cms'), alice.unwrapper, { to: [bob.certPem, carol.certPem] });

      const before = parseRecordingHeader(await fs.readFile(file('cms')), { contentTypeSeen: false });
      const after = parseRecordingHeader(await fs.readFile(file('form.cms')), { contentTypeSeen: false });
      expect(after.layout.outer.map((o) => o.end === undefined)).toEqual(
        before.layout.outer.map((o) => o.end === undefined),
      );
      expect(await opensslOpens(file('form.cms'), carol, file('plain'))).toBe(true);
    });

    it('with keepRecipients adds the targets and the old key still opens it', async () => {
      const result = await rewrapFile(file('cms'), file('both.cms'), alice.unwrapper, {
        to: [bob.certPem],
        keepRecipients: true,
      });

      expect(result.recipients).toBe(2);
      expect(await opensslOpens(file('both.cms'), alice, file('plain'))).toBe(true);
      expect(await opensslOpens(file('both.cms'), bob, file('plain'))).toBe(true);
    });
  });
});

describe('rewrap refusals', () => {
  let plainPath: string;
  let cmsPath: string;

  beforeAll(async () => {
    plainPath = path.join(dir, 'refusals.plain');
    cmsPath = path.join(dir, 'refusals.cms');
    await writeSeededFile(plainPath, 2 * MiB + 5, 'refusals');
    await opensslEncrypt(plainPath, cmsPath, [alice]);
  });

  async function tampered(name: string, offsetFromEnd: number): Promise<string> {
    const bytes = await fs.readFile(cmsPath);
    bytes[bytes.length - offsetFromEnd]! ^= 0x01;
    const target = path.join(dir, name);
    await fs.writeFile(target, bytes);
    return target;
  }

  it('refuses a recording whose content was altered and leaves no output', async () => {
    const input = await tampered('content-flip.cms', 1000);
    const outDir = await tempDir('rewrap-out');

    await expect(
      rewrapFile(input, path.join(outDir, 'out.cms'), alice.unwrapper, { to: [bob.certPem] }),
    ).rejects.toMatchObject({ code: 'INTEGRITY_CHECK_FAILED' });
    expect(await listDir(outDir)).toEqual([]);
  });

  it('refuses a recording whose tag was altered and leaves no output', async () => {
    const input = await tampered('tag-flip.cms', 1);
    const outDir = await tempDir('rewrap-out');

    await expect(
      rewrapFile(input, path.join(outDir, 'out.cms'), alice.unwrapper, { to: [bob.certPem] }),
    ).rejects.toMatchObject({ code: 'INTEGRITY_CHECK_FAILED' });
    expect(await listDir(outDir)).toEqual([]);
  });

  it('refuses a recording cut short', async () => {
    const bytes = await fs.readFile(cmsPath);
    const input = path.join(dir, 'cut.cms');
    await fs.writeFile(input, bytes.subarray(0, bytes.length - 40));
    const outDir = await tempDir('rewrap-out');

    await expect(
      rewrapFile(input, path.join(outDir, 'out.cms'), alice.unwrapper, { to: [bob.certPem] }),
    ).rejects.toMatchObject({ code: 'INTEGRITY_CHECK_FAILED' });
    expect(await listDir(outDir)).toEqual([]);
  });

  it('refuses a key that is not a recipient with NO_MATCHING_KEY', async () => {
    const outDir = await tempDir('rewrap-out');

    await expect(
      rewrapFile(cmsPath, path.join(outDir, 'out.cms'), carol.unwrapper, { to: [bob.certPem] }),
    ).rejects.toMatchObject({ code: 'NO_MATCHING_KEY' });
    expect(await listDir(outDir)).toEqual([]);
  });

  it('refuses input that is not CMS with NOT_CMS', async () => {
    const outDir = await tempDir('rewrap-out');

    await expect(
      rewrapFile(plainPath, path.join(outDir, 'out.cms'), alice.unwrapper, { to: [bob.certPem] }),
    ).rejects.toMatchObject({ code: 'NOT_CMS' });
    expect(await listDir(outDir)).toEqual([]);
  });

  it('refuses more targets than a recording may carry with TOO_MANY_RECIPIENTS', async () => {
    // Sixteen certificates (distinct serials) of one key: the count matters, not the keys.
    const many = Array.from({ length: 16 }, () => makePair().certPem);
    const outDir = await tempDir('rewrap-out');

    await expect(
      rewrapFile(cmsPath, path.join(outDir, 'out.cms'), alice.unwrapper, {
        to: many,
        keepRecipients: true,
      }),
    ).rejects.toMatchObject({ code: 'TOO_MANY_RECIPIENTS' });
    expect(await listDir(outDir)).toEqual([]);
  });
});

describe('rewrap plan for engines that copy the content themselves', () => {
  it('gives a header and an offset whose join with the original opens with the new key', async () => {
    const plainPath = path.join(dir, 'plan.plain');
    const cmsPath = path.join(dir, 'plan.cms');
    await writeSeededFile(plainPath, 3 * MiB, 'plan');
    await opensslEncrypt(plainPath, cmsPath, [alice]);
    const original = await fs.readFile(cmsPath);
    const header = parseRecordingHeader(original, { contentTypeSeen: false });
    const key = await alice.unwrapper.unwrap(header.recipients[0]!.id, header.recipients[0]!.wrappedKey);

    const plan = planRewrap(original.subarray(0, 64 * 1024), key, { to: [bob.certPem] });
    const rewrapped = path.join(dir, 'plan.bob.cms');
    await fs.writeFile(rewrapped, Buffer.concat([plan.header, original.subarray(plan.copyFrom)]));
    const verifier = createTagVerifier(key);
    verifier.end(original);

    await expect(verifier.completed).resolves.toMatchObject({ bytesOut: 3 * MiB });
    expect(await opensslOpens(rewrapped, bob, plainPath)).toBe(true);
  });

  it('the tag verifier refuses altered content', async () => {
    const cmsPath = path.join(dir, 'plan.cms');
    const original = await fs.readFile(cmsPath);
    const header = parseRecordingHeader(original, { contentTypeSeen: false });
    const key = await alice.unwrapper.unwrap(header.recipients[0]!.id, header.recipients[0]!.wrappedKey);
    original[original.length - 100]! ^= 0x80;

    const verifier = createTagVerifier(key);
    verifier.end(original);

    await expect(verifier.completed).rejects.toMatchObject({ code: 'INTEGRITY_CHECK_FAILED' });
  });
});
