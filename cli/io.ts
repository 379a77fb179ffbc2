/**
 * Files and streams for the commands: reading inputs with one-line errors, and writing outputs
 * so that no partial key file ever exists and nothing is overwritten without `--force`.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { RefusedError, UsageError } from './errors';

/** Where a command reads and writes; the real process in `bin/reccert.js`. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  readStdin(): Promise<string>;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Set when stderr is a terminal (progress bars are drawn only then): its width. */
  stderrTerminal?: { columns: number };
}

/** The process's own streams. */
export function processIo(): Io {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    env: process.env,
    cwd: process.cwd(),
    ...(process.stderr.isTTY ? { stderrTerminal: { columns: process.stderr.columns || 80 } } : {}),
  };
}

/** Upper bound for any input file: PEM certificates and keys are a few KiB. */
const MAX_INPUT_BYTES = 1024 * 1024;

/**
 * Reads a text input file. A missing, unreadable or oversized file is a usage error (exit 2):
 * the command line names something that cannot be used.
 */
export function readInputFile(io: Io, path: string, what: string, command: string): string {
  const full = resolve(io.cwd, path);
  let size: number;
  try {
    const stat = statSync(full);
    if (stat.isDirectory()) throw new UsageError(`${what} '${path}' is a directory, not a file`, command);
    size = stat.size;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot read ${what} '${path}': ${fsReason(error)}`, command);
  }
  if (size > MAX_INPUT_BYTES) {
    throw new UsageError(`${what} '${path}' is ${size} bytes; a PEM file is at most a few KiB`, command);
  }
  try {
    return readFileSync(full, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${what} '${path}': ${fsReason(error)}`, command);
  }
}

/** A short reason for a file system error, without the path echoed twice. */
export function fsReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EROFS':
      return 'read-only file system';
    default:
      return code ?? (error instanceof Error ? error.message : String(error));
  }
}

/** Refuses (exit 1) when `path` exists and `force` is not set. */
export function refuseOverwrite(io: Io, path: string, force: boolean): void {
  if (!force && existsSync(resolve(io.cwd, path))) {
    throw new RefusedError(
      'FILE_EXISTS',
      `'${path}' already exists; choose another name or add --force to replace it`,
      {
        details: { path },
      },
    );
  }
}

/** A file written to a temporary name, not yet in place. */
export interface StagedFile {
  /** Moves the file into place (see `writeFileAtomic`). */
  commit(): void;
  /** Deletes the temporary file. */
  abort(): void;
}

/**
 * Writes `data` into a temporary file next to `path` (created exclusively, with `mode` from the
 * start, flushed to disk) and returns how to move it into place. Staging every output first
 * means a failure leaves the old files, never a mix of old and new or a partial file.
 */
export function stageFile(
  io: Io,
  path: string,
  data: string | Buffer,
  options: { mode: number; force: boolean },
): StagedFile {
  const target = resolve(io.cwd, path);
  const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', options.mode);
    // The umask may have removed bits but never adds them; chmod makes the mode exact.
    fchmodSync(fd, options.mode);
    writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    removeQuietly(tmp);
    throw new RefusedError('WRITE_FAILED', `cannot write '${path}': ${fsReason(error)}`, {
      details: { path },
    });
  }
  return {
    commit: () => {
      try {
        if (options.force) renameSync(tmp, target);
        else linkWithoutOverwrite(tmp, target, path);
      } catch (error) {
        removeQuietly(tmp);
        if (error instanceof RefusedError) throw error;
        throw new RefusedError('WRITE_FAILED', `cannot write '${path}': ${fsReason(error)}`, {
          details: { path },
        });
      }
    },
    abort: () => removeQuietly(tmp),
  };
}

/**
 * Writes `data` to `path` atomically: a crash or a full disk leaves either no file or the
 * complete file, never a partial one, and a private key is never readable by others, not even
 * for a moment. Without `force` the final step is a hard link, which fails if the target
 * appeared meanwhile, so nothing is ever overwritten.
 */
export function writeFileAtomic(
  io: Io,
  path: string,
  data: string | Buffer,
  options: { mode: number; force: boolean },
): void {
  stageFile(io, path, data, options).commit();
}

function linkWithoutOverwrite(tmp: string, target: string, shown: string): void {
  try {
    linkSync(tmp, target);
    unlinkSync(tmp);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new RefusedError(
        'FILE_EXISTS',
        `'${shown}' already exists; choose another name or add --force to replace it`,
        {
          details: { path: shown },
        },
      );
    }
    // Some file systems (FAT, some network shares) have no hard links: fall back to
    // check-then-rename, which is atomic for the content, if not for the existence check.
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') {
      if (existsSync(target)) {
        throw new RefusedError(
          'FILE_EXISTS',
          `'${shown}' already exists; choose another name or add --force to replace it`,
          {
            details: { path: shown },
          },
        );
      }
      renameSync(tmp, target);
      return;
    }
    throw error;
  }
}

/** Deletes a file we created, ignoring a file that is already gone. */
export function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Nothing to clean up.
  }
}

/**
 * The password for an encrypted key, from `--password`, or `--password-file FILE` (first line;
 * `-` reads standard input), so that passwords need not appear on the command line or in the
 * shell history.
 */
export async function readPassword(
  io: Io,
  values: { password?: string | undefined; 'password-file'?: string | undefined },
  command: string,
): Promise<string | undefined> {
  const inline = values.password;
  const file = values['password-file'];
  if (inline !== undefined && file !== undefined) {
    throw new UsageError('give the password once: --password or --password-file, not both', command);
  }
  if (inline !== undefined) return inline;
  if (file === undefined) return undefined;
  const text = file === '-' ? await io.readStdin() : readInputFile(io, file, 'password file', command);
  // Like `openssl -passin file:`, the password is the first line without its line ending.
  return text.split(/\r?\n/, 1)[0] ?? '';
}
