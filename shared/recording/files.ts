/**
 * File helpers shared by the encryptor and the decryptor: the read size, an ordered reader that
 * keeps reads in flight while the caller computes, an ordered writer that lets one write run
 * while the next chunk is computed, and writing a result under its final name only once it is
 * complete (and authenticated, for decryption).
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs, type WriteStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';

/**
 * Read and write in 1 MiB pieces: few calls per byte, constant memory; 256 KiB and 2 MiB chunks
 * were slower on the file paths (BENCHMARKS.md, "recording", has the table).
 */
export const READ_CHUNK_SIZE = 1024 * 1024;

/**
 * Reads in flight ahead of the chunk being processed. Two keep the fs threadpool busy while the
 * main thread runs the cipher (two cores); more only held memory in the measurements.
 */
const READS_AHEAD = 2;

/** Tuning of the file paths; the defaults are the measured best (see BENCHMARKS.md, "recording"). */
export interface ChunkOptions {
  /** Bytes per read, per cipher update and per write (default `READ_CHUNK_SIZE`). */
  chunkSize?: number;
}

/**
 * Reads `handle` from the start to its end in order, `chunkSize` bytes at a time, with up to
 * `READS_AHEAD` further reads in flight into a ring of preallocated buffers. `consume` sees each
 * chunk once; the chunk's memory is reused as soon as the promise `consume` returns settles, so it
 * must not keep a reference. Memory: `(READS_AHEAD + 1) * chunkSize`. Returns the bytes read.
 */
export async function readChunks(
  handle: FileHandle,
  consume: (chunk: Buffer) => void | Promise<void>,
  chunkSize: number = READ_CHUNK_SIZE,
): Promise<number> {
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) throw new RangeError(`chunkSize ${chunkSize}`);
  const ring = Array.from({ length: READS_AHEAD + 1 }, () => Buffer.allocUnsafeSlow(chunkSize));
  const inFlight: Array<Promise<{ buffer: Buffer; bytesRead: number }>> = [];
  let next = 0;
  let position = 0;
  const issue = (): void => {
    const buffer = ring[next++ % ring.length]!;
    const read = handle.read(buffer, 0, chunkSize, position).then(({ bytesRead }) => ({ buffer, bytesRead }));
    read.catch(() => undefined); // awaited in order below; an early failure is not unhandled meanwhile
    inFlight.push(read);
    position += chunkSize;
  };
  let total = 0;
  try {
    for (let i = 0; i <= READS_AHEAD; i++) issue();
    for (;;) {
      const { buffer, bytesRead } = await inFlight.shift()!;
      if (bytesRead > 0) {
        total += bytesRead;
        await consume(bytesRead === chunkSize ? buffer : buffer.subarray(0, bytesRead));
      }
      // A regular file only reads short at its end; reading on would race a file still growing.
      if (bytesRead < chunkSize) return total;
      issue();
    }
  } finally {
    await Promise.allSettled(inFlight);
  }
}

/**
 * Writes buffers to a file handle in order, from position 0. `write` waits for the previous
 * write and starts this one without waiting for it, so the caller computes the next chunk while
 * the threadpool writes; `flush` waits for the last. A failed write fails the next call.
 */
export class OrderedWriter {
  private pending: Promise<void> = Promise.resolve();
  private position = 0;

  constructor(private readonly handle: FileHandle) {}

  /** Waits for the previous write, then starts writing `buffers` (kept until written). */
  async write(buffers: readonly Buffer[]): Promise<void> {
    await this.pending;
    const write = this.writeAll(buffers, this.position);
    for (const b of buffers) this.position += b.length;
    write.catch(() => undefined);
    this.pending = write;
  }

  /** Waits until everything written so far is in the file. */
  flush(): Promise<void> {
    return this.pending;
  }

  private async writeAll(buffers: readonly Buffer[], position: number): Promise<void> {
    let rest = buffers.filter((b) => b.length > 0);
    while (rest.length > 0) {
      const { bytesWritten } =
        rest.length === 1
          ? await this.handle.write(rest[0]!, 0, rest[0]!.length, position)
          : await this.handle.writev(rest, position);
      position += bytesWritten;
      // A short write (rare on a regular file) continues where it stopped.
      let skip = bytesWritten;
      const left: Buffer[] = [];
      for (const b of rest) {
        if (skip >= b.length) skip -= b.length;
        else {
          left.push(skip > 0 ? b.subarray(skip) : b);
          skip = 0;
        }
      }
      rest = left;
    }
  }
}

function closed(stream: WriteStream): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((resolve) => stream.once('close', () => resolve()));
}

function temporaryPath(outPath: string): string {
  const dir = path.dirname(outPath);
  return path.join(dir, `.${path.basename(outPath)}.${randomBytes(6).toString('hex')}.partial`);
}

/**
 * Runs `write` with a stream to a new temporary file next to `outPath` (same directory, so the
 * rename is atomic; mode 0600), then renames it to `outPath`. If `write` throws, the temporary
 * file is closed and deleted and `outPath` is left as it was.
 */
export async function writeAtomically<T>(
  outPath: string,
  write: (out: WriteStream) => Promise<T>,
): Promise<T> {
  const tmpPath = temporaryPath(outPath);
  // Open before streaming: the file then exists before anything can fail, so the cleanup below
  // cannot race a lazy open that would recreate it.
  const handle = await fs.open(tmpPath, 'wx', 0o600);
  const out = createWriteStream(tmpPath, { fd: handle, highWaterMark: READ_CHUNK_SIZE });
  try {
    const result = await write(out);
    await closed(out);
    await fs.rename(tmpPath, outPath);
    return result;
  } catch (error) {
    out.destroy();
    await closed(out);
    await fs.rm(tmpPath, { force: true });
    throw error;
  }
}

/**
 * {@link writeAtomically} for code that writes through an {@link OrderedWriter} rather than a
 * stream: same temporary file, same rename on success and removal on failure.
 */
export async function writeFileAtomically<T>(
  outPath: string,
  write: (out: OrderedWriter) => Promise<T>,
): Promise<T> {
  const tmpPath = temporaryPath(outPath);
  const handle = await fs.open(tmpPath, 'wx', 0o600);
  try {
    const writer = new OrderedWriter(handle);
    let result: T;
    try {
      result = await write(writer);
    } finally {
      await writer.flush().catch(() => undefined); // no write may still run when the file closes
    }
    await writer.flush();
    await handle.close();
    await fs.rename(tmpPath, outPath);
    return result;
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.rm(tmpPath, { force: true });
    throw error;
  }
}
