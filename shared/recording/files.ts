/**
 * File helpers shared by the encryptor and the decryptor: the read size, and writing a result
 * under its final name only once it is complete (and authenticated, for decryption).
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs, type WriteStream } from 'node:fs';
import * as path from 'node:path';

/** Read and write in 1 MiB pieces: few calls per byte, constant memory. */
export const READ_CHUNK_SIZE = 1024 * 1024;

function closed(stream: WriteStream): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((resolve) => stream.once('close', () => resolve()));
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
  const dir = path.dirname(outPath);
  const tmpPath = path.join(dir, `.${path.basename(outPath)}.${randomBytes(6).toString('hex')}.partial`);
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
