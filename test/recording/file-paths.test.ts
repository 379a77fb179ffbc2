import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { decryptFile, encryptFile } from '../../shared/recording';
import { OrderedWriter, readChunks } from '../../shared/recording/files';
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

let dir: string;
let alice: KeyPair;

beforeAll(async () => {
  dir = await tempDir('file-paths');
  alice = await makeKeyPair(dir, 'alice');
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

// 7 bytes: the CMS header spans dozens of reads; 1000: a few; 64 KiB + 1: the content spans reads
// unevenly; each must give the same bytes as the default 1 MiB.
describe.each([7, 1000, 64 * 1024 + 1])('encryptFile and decryptFile in %i-byte chunks', (chunkSize) => {
  let plain: string;
  let digest: string;
  const file = (name: string) => path.join(dir, `${chunkSize}.${name}`);

  beforeAll(async () => {
    plain = file('plain');
    digest = await writeSeededFile(plain, 150 * 1024 + 3, `chunks-${chunkSize}`);
  });

  it('writes what openssl cms -decrypt opens', async () => {
    const result = await encryptFile(plain, file('ours.cms'), [alice.certPem], { chunkSize });
    await opensslDecrypt(file('ours.cms'), file('ours.out'), alice);

    expect(result.bytesIn).toBe(150 * 1024 + 3);
    expect(await sha256File(file('ours.out'))).toBe(digest);
  });

  it.each([false, true])('decrypts what openssl cms -encrypt wrote (streamed: %s)', async (stream) => {
    const cms = file(`ossl-${stream}.cms`);
    await opensslEncrypt(plain, cms, [alice], { stream });

    const result = await decryptFile(cms, file(`ossl-${stream}.out`), alice.unwrapper, { chunkSize });

    expect(result.bytesOut).toBe(150 * 1024 + 3);
    expect(await sha256File(file(`ossl-${stream}.out`))).toBe(digest);
  });

  it('refuses a recording with one changed content byte and writes nothing', async () => {
    const cms = file('tampered.cms');
    await encryptFile(plain, cms, [alice.certPem]);
    const bytes = await fs.readFile(cms);
    bytes[bytes.length - 5000] = bytes[bytes.length - 5000]! ^ 1;
    await fs.writeFile(cms, bytes);
    const before = await listDir(dir);

    await expect(
      decryptFile(cms, file('tampered.out'), alice.unwrapper, { chunkSize }),
    ).rejects.toMatchObject({
      code: 'INTEGRITY_CHECK_FAILED',
    });
    expect(await listDir(dir)).toEqual(before);
  });
});

describe('encryptFile of a file that changes while it is read', () => {
  it.each([
    ['grows', (p: string) => fs.appendFile(p, 'more')],
    ['shrinks', (p: string) => fs.truncate(p, 1000)],
  ])('fails when the input %s and leaves no output behind', async (label, change) => {
    const plain = path.join(dir, `changing-${label}`);
    await writeSeededFile(plain, 256 * 1024, label);
    const out = path.join(dir, `changing-${label}.cms`);
    let changed: Promise<void> | undefined;
    const before = await listDir(dir);

    const encrypting = encryptFile(plain, out, [alice.certPem], {
      chunkSize: 16 * 1024,
      // Reads run ahead, so the change lands a few chunks later: still long before the end.
      onProgress: () => {
        changed ??= change(plain);
      },
    });

    await expect(encrypting).rejects.toMatchObject({
      code: 'VALIDATION_ERROR',
      message: expect.stringContaining('changed while it was read'),
    });
    await changed;
    expect(await listDir(dir)).toEqual(before);
  });
});

describe('decryptFile progress', () => {
  it('reports the CMS bytes read, rising to the file size', async () => {
    const plain = path.join(dir, 'progress');
    await writeSeededFile(plain, 100 * 1024, 'progress');
    const cms = path.join(dir, 'progress.cms');
    await encryptFile(plain, cms, [alice.certPem]);
    const seen: number[] = [];

    await decryptFile(cms, path.join(dir, 'progress.out'), alice.unwrapper, {
      chunkSize: 10 * 1024,
      onProgress: (bytes) => seen.push(bytes),
    });

    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(seen.at(-1)).toBe((await fs.stat(cms)).size);
  });
});

describe('OrderedWriter', () => {
  it('finishes a short write where it stopped, keeping the order', async () => {
    // A handle that writes at most 5 bytes per call, as a short write would (injected failure).
    const file = Buffer.alloc(64);
    const put = (buffers: Buffer[], position: number) => {
      const bytes = Buffer.concat(buffers).subarray(0, 5);
      bytes.copy(file, position);
      return Promise.resolve({ bytesWritten: bytes.length });
    };
    const handle = {
      write: (b: Buffer, offset: number, length: number, position: number) =>
        put([b.subarray(offset, offset + length)], position),
      writev: (buffers: Buffer[], position: number) => put(buffers, position),
    } as unknown as FileHandle;
    const writer = new OrderedWriter(handle);

    await writer.write([Buffer.from('abcdefgh'), Buffer.from('ijk')]);
    await writer.write([Buffer.from('lmnopqrstuvwxyz')]);
    await writer.flush();

    expect(file.subarray(0, 26).toString()).toBe('abcdefghijklmnopqrstuvwxyz');
  });

  it('fails the next write once a write failed', async () => {
    const handle = {
      write: () => Promise.reject(Object.assign(new Error('no space left'), { code: 'ENOSPC' })),
    } as unknown as FileHandle;
    const writer = new OrderedWriter(handle);

    await writer.write([Buffer.from('a')]);

    await expect(writer.write([Buffer.from('b')])).rejects.toMatchObject({ code: 'ENOSPC' });
  });
});

describe('readChunks', () => {
  it('rejects with a read error and leaves no read running', async () => {
    let reads = 0;
    let running = 0;
    const handle = {
      read: async (buffer: Buffer, _offset: number, length: number) => {
        reads += 1;
        const call = reads;
        running += 1;
        await new Promise((resolve) => setTimeout(resolve, 5));
        running -= 1;
        if (call === 2) throw Object.assign(new Error('i/o error'), { code: 'EIO' });
        buffer.fill(1, 0, length);
        return { bytesRead: length, buffer };
      },
    } as unknown as FileHandle;

    await expect(readChunks(handle, () => undefined, 16)).rejects.toMatchObject({ code: 'EIO' });
    expect(running).toBe(0);
  });
});
