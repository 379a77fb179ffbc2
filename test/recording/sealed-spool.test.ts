/**
 * The sealed spool that holds a decrypted recording until its tag verified: memory up to a
 * limit, then a temporary file sealed under a one-time key, never plaintext at rest, gone
 * afterwards whatever happens. The open file is found through /proc (it has no name).
 */
import { createHash } from 'node:crypto';
import { promises as fs, readdirSync, readlinkSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SealedSpool } from '../../shared/recording/sealed-spool';
import { tempDir } from './helpers';

const KiB = 1024;

/** Open files of this process that live in `dir` (named, or unlinked: "... (deleted)"). */
function openFilesIn(dir: string): string[] {
  const found: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(`${dir}/`)) found.push(`/proc/self/fd/${fd}`);
    } catch {
      // closed meanwhile
    }
  }
  return found;
}

/** A recognisable plaintext: a repeated marker, so any trace of it on disk can be searched for. */
function plaintext(size: number): Buffer {
  const marker = Buffer.from('PLAINTEXT-MARKER;');
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += marker.length) marker.copy(out, i);
  return out;
}

async function fill(spool: SealedSpool, data: Buffer, piece = 48 * KiB): Promise<void> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length; i += piece) pieces.push(Buffer.from(data.subarray(i, i + piece)));
  await pipeline(Readable.from(pieces), spool);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

let dir: string;

beforeEach(async () => {
  dir = await tempDir('spool');
});

afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('SealedSpool', () => {
  it('keeps a small recording in memory and writes no file', async () => {
    const spool = new SealedSpool({ dir, memoryBytes: 256 * KiB });
    const data = plaintext(200 * KiB);
    await fill(spool, data);
    expect(spool.spilled).toBe(false);
    expect(openFilesIn(dir)).toEqual([]);
    expect((await readAll(spool.reader())).equals(data)).toBe(true);
  });

  it('spills past the memory limit to an unnamed 0600 file holding no plaintext, and removes it after reading', async () => {
    const spool = new SealedSpool({ dir, memoryBytes: 64 * KiB, chunkBytes: 32 * KiB });
    const data = plaintext(1000 * KiB + 5);
    await fill(spool, data);
    expect(spool.spilled).toBe(true);
    expect(await fs.readdir(dir)).toEqual([]);
    const [open] = openFilesIn(dir);
    expect(open).toBeDefined();
    const stat = await fs.stat(open!);
    expect(stat.mode & 0o777).toBe(0o600);
    const atRest = await fs.readFile(open!);
    expect(atRest.length).toBeGreaterThanOrEqual(data.length);
    expect(atRest.includes(Buffer.from('PLAINTEXT-MARKER'))).toBe(false);
    expect((await readAll(spool.reader())).equals(data)).toBe(true);
    expect(openFilesIn(dir)).toEqual([]);
  });

  it('round-trips sizes around the chunk boundaries', async () => {
    for (const size of [0, 1, 32 * KiB - 1, 32 * KiB, 32 * KiB + 1, 96 * KiB, 96 * KiB + 7]) {
      const spool = new SealedSpool({ dir, memoryBytes: 0, chunkBytes: 32 * KiB });
      const data = plaintext(size);
      await fill(spool, data, 5000);
      const back = await readAll(spool.reader());
      expect({ size, same: back.equals(data) }).toEqual({ size, same: true });
    }
    expect(openFilesIn(dir)).toEqual([]);
  });

  it('fails the reader at a tampered chunk without releasing its bytes', async () => {
    const chunk = 32 * KiB;
    const spool = new SealedSpool({ dir, memoryBytes: 0, chunkBytes: chunk });
    const data = plaintext(4 * chunk);
    await fill(spool, data);
    const [open] = openFilesIn(dir);
    const handle = await fs.open(open!, 'r+');
    // A byte of the third sealed chunk (each is chunk + 16 bytes of tag).
    const at = 2 * (chunk + 16) + 100;
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, at);
    byte[0]! ^= 1;
    await handle.write(byte, 0, 1, at);
    await handle.close();
    const received: Buffer[] = [];
    const failure = await pipeline(
      spool.reader(),
      new Writable({
        write(c: Buffer, _e, cb) {
          received.push(c);
          cb();
        },
      }),
    ).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(String(failure)).toMatch(/sealed spool file was altered \(chunk 2\)/);
    expect(Buffer.concat(received).equals(data.subarray(0, 2 * chunk))).toBe(true);
    expect(openFilesIn(dir)).toEqual([]);
  });

  it('removes the file when the reader is destroyed before its end (client gone)', async () => {
    const spool = new SealedSpool({ dir, memoryBytes: 0, chunkBytes: 32 * KiB });
    await fill(spool, plaintext(512 * KiB));
    const reader = spool.reader();
    await new Promise<void>((resolve) => reader.once('readable', () => resolve()));
    reader.read();
    reader.destroy();
    await new Promise((resolve) => reader.once('close', resolve));
    expect(openFilesIn(dir)).toEqual([]);
  });

  it('removes the file when it is released unread (the recording failed its check)', async () => {
    const spool = new SealedSpool({ dir, memoryBytes: 0, chunkBytes: 32 * KiB });
    await fill(spool, plaintext(300 * KiB));
    expect(openFilesIn(dir)).toHaveLength(1);
    await spool.release();
    expect(openFilesIn(dir)).toEqual([]);
  });

  it('drops everything past maxBytes but keeps counting', async () => {
    const spool = new SealedSpool({ dir, memoryBytes: 64 * KiB, chunkBytes: 32 * KiB, maxBytes: 200 * KiB });
    const data = plaintext(400 * KiB);
    await fill(spool, data);
    expect(spool.overflowed).toBe(true);
    expect(spool.bytes).toBe(data.length);
    expect(openFilesIn(dir)).toEqual([]);
    expect(() => spool.reader()).toThrow(/overflowed/);
  });

  it('seals each spool under its own key', async () => {
    const digests: string[] = [];
    for (let i = 0; i < 2; i++) {
      const spool = new SealedSpool({ dir, memoryBytes: 0, chunkBytes: 32 * KiB });
      await fill(spool, plaintext(64 * KiB));
      digests.push(
        createHash('sha256')
          .update(await fs.readFile(openFilesIn(dir)[0]!))
          .digest('hex'),
      );
      await spool.release();
    }
    expect(digests[0]).not.toBe(digests[1]);
  });
});
