/**
 * `reccert verify-recordings`: the exit drill (DESIGN section 10). Proves, before a tenant leaves
 * a vendor, that every recording it holds opens with the keys it holds: each file goes end to end
 * through the project's decryptor in a pool of worker threads (`verify-recordings-worker.ts`),
 * the plaintext discarded as it streams, and the report names every file that would not play.
 */
import { type KeyObject, X509Certificate } from 'node:crypto';
import { type Dirent, promises as fs, type Stats } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { AppError } from '../../shared/errors';
import type { BackupBundle } from '../../shared/escrow/backup-bundle';
import { toPem } from '../../shared/pki/pem';
import { ANY_KEY_FORMAT, parsePrivateKeyInput } from '../../shared/pki/validate';
import { intOption, parseCommandArgs, str, strs } from '../args';
import { openBackupFile } from '../backup-file';
import { EXIT, RefusedError, UsageError } from '../errors';
import { escapeControls, json } from '../format';
import { fsReason, type Io, readInputFile, readPassword } from '../io';
import { formatProgress } from '../progress';
import { startWorkerThread } from '../worker-thread';
import { READ_ERROR, type VerifyJob, type WorkerKeys, type WorkerMessage } from './verify-recordings-worker';

const NAME = 'verify-recordings';

export const help = `Usage: reccert verify-recordings [--key KEY ...] [--backup BACKUP --escrow-key KEY
                                 [--escrow-cert CERT]] [--password PW | --password-file FILE]
                                 [--jobs N] [--json] PATH...

The exit drill: check that every recording in PATH (files, or folders searched recursively)
opens with the keys given, end to end: a recipient that matches a key held, the session key
unwrapped, the AES-GCM tag verified over the whole content. No plaintext is written anywhere.

Keys:
  --key KEY             a private key file (PKCS#8, PKCS#1 or encrypted PEM); repeat for more
  --backup BACKUP       a key backup (GET .../key-backup, reccert backup download): every key in
                        it is used, each for its own certificate
  --escrow-key KEY      the escrow private key that opens BACKUP
  --escrow-cert CERT    the escrow certificate (optional: only its recipient entry is tried)
  --password PW         password of encrypted keys (key files and escrow key)
  --password-file FILE  read the password from the first line of FILE ('-' = standard input)

Options:
  --jobs N              worker threads (default: the number of cores, ${availableParallelism()} here)
  --json                print {files, ok, failed: [{path, code, message}], skipped} on stdout
  -h, --help            show this help

Every regular file under a folder is a recording to check; a symbolic link is followed only
when it stays inside the folder (a link out of it is listed as skipped), and each file is
checked once. A progress bar is shown when stderr is a terminal.

Codes of a failed recording:
  NO_MATCHING_KEY         none of the keys opens it (it was encrypted for other certificates)
  INTEGRITY_CHECK_FAILED  altered, damaged or cut short (the GCM tag or the structure fails)
  NOT_CMS                 not a CMS recording (or cut short before its header says so)
  TOO_MANY_RECIPIENTS     more than 16 recipient entries
  READ_ERROR              the file (or a folder) cannot be read

Exit codes: 0 every recording opened, 1 at least one failed (or a key or the backup is
refused), 2 usage (unknown option, missing PATH or key, unreadable key file).
`;

const OPTIONS = {
  key: { type: 'string', multiple: true },
  backup: { type: 'string' },
  'escrow-key': { type: 'string' },
  'escrow-cert': { type: 'string' },
  password: { type: 'string' },
  'password-file': { type: 'string' },
  jobs: { type: 'string' },
} as const;

/** A backup holds a PEM bundle of certificates and keys: a few KiB per certificate. */
const MAX_BACKUP_BYTES = 256 * 1024 * 1024;
const REDRAW_MS = 100;

/** One recording to check. */
interface Target {
  /** As shown in the report: the PATH given, joined with the path under it. */
  shown: string;
  full: string;
  size: number;
}

interface Failure {
  path: string;
  code: string;
  message: string;
}

interface Skipped {
  path: string;
  reason: string;
}

/** What the drill found on disk. */
interface Found {
  targets: Target[];
  /** Folders that could not be read: reported as failed, since recordings may hide there. */
  failed: Failure[];
  skipped: Skipped[];
}

// -- keys ----------------------------------------------------------------------------------------

function refusedFor(what: string, error: unknown): never {
  if (error instanceof AppError) {
    throw new RefusedError(error.code, `${what}: ${error.message}`, {
      ...(error.details ? { details: error.details } : {}),
    });
  }
  throw error;
}

function loadKeyFile(io: Io, path: string, password: string | undefined): KeyObject {
  const text = readInputFile(io, path, 'key file', NAME);
  try {
    const { key } = parsePrivateKeyInput(text, password, ANY_KEY_FORMAT);
    if (key.asymmetricKeyType !== 'rsa') {
      throw new RefusedError('UNSUPPORTED_KEY_ALGORITHM', `key file '${path}': recording keys are RSA keys`);
    }
    return key;
  } catch (error) {
    return refusedFor(`key file '${path}'`, error);
  }
}

/** Decrypts a key backup in memory (it is key material: never written) and reads its pairs. */
async function loadBackup(
  io: Io,
  backupPath: string,
  escrowKeyPath: string,
  escrowCertPath: string | undefined,
  password: string | undefined,
): Promise<{ certified: WorkerKeys['certified']; notEscrowed: string[] }> {
  const full = resolve(io.cwd, backupPath);
  const stat = await fs.stat(full).catch((error: unknown) => {
    throw new UsageError(`cannot read backup '${backupPath}': ${fsReason(error)}`, NAME);
  });
  if (stat.isFile() && stat.size > MAX_BACKUP_BYTES) {
    throw new UsageError(`backup '${backupPath}' is ${stat.size} bytes; a key backup is far smaller`, NAME);
  }
  let bundle: BackupBundle;
  try {
    bundle = await openBackupFile(
      io,
      backupPath,
      { keyPath: escrowKeyPath, certPath: escrowCertPath, password },
      NAME,
    );
  } catch (error) {
    if (error instanceof AppError) {
      const hint =
        error.code === 'NO_MATCHING_KEY'
          ? " (this escrow key does not open it: use the escrow certificate's key)"
          : '';
      return refusedFor(`backup '${backupPath}'${hint}`, error);
    }
    throw error;
  }
  const certified: WorkerKeys['certified'] = [];
  const notEscrowed: string[] = [];
  for (const entry of bundle.entries) {
    if (!entry.privateKeyDer) {
      notEscrowed.push(entry.certificateId);
      continue;
    }
    const what = `backup '${backupPath}', certificate ${entry.certificateId}`;
    let key: KeyObject;
    try {
      key = parsePrivateKeyInput(toPem('PRIVATE KEY', entry.privateKeyDer), undefined, ANY_KEY_FORMAT).key;
    } catch (error) {
      return refusedFor(what, error);
    } finally {
      entry.privateKeyDer.fill(0);
    }
    if (!new X509Certificate(entry.certificatePem).checkPrivateKey(key)) {
      throw new RefusedError('KEY_MISMATCH', `${what}: the key does not belong to the certificate`);
    }
    certified.push({ certificatePem: entry.certificatePem, key });
  }
  return { certified, notEscrowed };
}

// -- finding the recordings ------------------------------------------------------------------------

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Every regular file under the PATHs given. Symbolic links under a folder are not followed: one
 * whose target is inside the folder is reached there anyway (so a link cannot loop or count a
 * recording twice), and one that leads out of it is listed as skipped. A file named twice (two
 * PATHs that overlap, hard links) is checked once.
 */
async function findRecordings(io: Io, paths: string[]): Promise<Found> {
  const found: Found = { targets: [], failed: [], skipped: [] };
  const seen = new Set<string>();
  const idOf = (s: Stats) => `${s.dev}:${s.ino}`;
  const addFile = (shown: string, full: string, s: Stats) => {
    if (seen.has(idOf(s))) return;
    seen.add(idOf(s));
    found.targets.push({ shown, full, size: s.size });
  };
  const unreadable = (path: string, error: unknown) =>
    found.failed.push({ path, code: READ_ERROR, message: `It cannot be read: ${fsReason(error)}.` });
  for (const given of paths) {
    const full = resolve(io.cwd, given);
    const s = await fs.stat(full).catch((error: unknown) => {
      throw new UsageError(`cannot read '${given}': ${fsReason(error)}`, NAME);
    });
    if (s.isFile()) {
      addFile(given, full, s);
      continue;
    }
    if (!s.isDirectory()) throw new UsageError(`'${given}' is neither a file nor a folder`, NAME);
    const root = await fs.realpath(full);
    const stack: Array<{ shown: string; full: string }> = [{ shown: given, full }];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      let entries: Dirent[];
      try {
        entries = await fs.readdir(dir.full, { withFileTypes: true });
      } catch (error) {
        unreadable(dir.shown, error);
        continue;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const subdirs: Array<{ shown: string; full: string }> = [];
      for (const entry of entries) {
        const shown = join(dir.shown, entry.name);
        const entryPath = join(dir.full, entry.name);
        if (entry.isDirectory()) {
          subdirs.push({ shown, full: entryPath });
        } else if (entry.isSymbolicLink()) {
          const target = await fs.realpath(entryPath).catch(() => undefined);
          if (target === undefined)
            found.failed.push({
              path: shown,
              code: READ_ERROR,
              message: 'It is a symbolic link to something that does not exist.',
            });
          else if (!inside(root, target))
            found.skipped.push({ path: shown, reason: 'a symbolic link that leads out of the folder' });
        } else if (entry.isFile()) {
          try {
            addFile(shown, entryPath, await fs.stat(entryPath));
          } catch (error) {
            unreadable(shown, error);
          }
        } else {
          found.skipped.push({ path: shown, reason: 'not a regular file (a device, socket or pipe)' });
        }
      }
      // Depth first, in name order.
      for (const d of subdirs.reverse()) stack.push(d);
    }
  }
  return found;
}

// -- the worker pool -------------------------------------------------------------------------------

/** Starts a worker on `verify-recordings-worker` (cli/worker-thread.ts: either layout). */
function startWorker(keys: WorkerKeys): Worker {
  return startWorkerThread(__dirname, 'verify-recordings-worker', __filename.endsWith('.ts'), {
    workerData: keys,
    stdout: false,
    stderr: false,
  });
}

interface PoolEvents {
  onProgress(id: number, bytes: number): void;
  onDone(id: number, outcome: { code?: string; message?: string }): void;
}

/**
 * Recordings one worker has in hand at once: while one waits for the disk or for an RSA
 * operation on the thread pool, another is deciphered.
 */
const IN_FLIGHT_PER_WORKER = 4;

/**
 * Runs every target through `jobs` workers, each taking the next file as soon as it has room:
 * a big recording keeps one slot busy while the rest go on with the other files. A worker that
 * dies fails the files it held (INTERNAL_ERROR) and is replaced.
 */
async function runPool(targets: Target[], keys: WorkerKeys, jobs: number, events: PoolEvents): Promise<void> {
  let next = 0;
  let finished = 0;
  const workers = new Set<Worker>();
  try {
    await new Promise<void>((done, fail) => {
      const complete = (id: number, outcome: { code?: string; message?: string }): void => {
        events.onDone(id, outcome);
        finished++;
        if (finished === targets.length) done();
      };
      const spawn = (): void => {
        const worker = startWorker(keys);
        workers.add(worker);
        const held = new Set<number>();
        let ready = false;
        const feed = (): void => {
          while (held.size < IN_FLIGHT_PER_WORKER && next < targets.length) {
            const id = next++;
            held.add(id);
            worker.postMessage({ id, path: targets[id]!.full } satisfies VerifyJob);
          }
          if (held.size === 0) {
            workers.delete(worker);
            void worker.terminate();
          }
        };
        worker.on('message', (message: WorkerMessage) => {
          if (message.type === 'ready') {
            ready = true;
            feed();
          } else if (message.type === 'progress') {
            events.onProgress(message.id, message.bytes);
          } else {
            held.delete(message.id);
            complete(message.id, message);
            if (finished < targets.length) feed();
          }
        });
        worker.on('error', (error) => {
          workers.delete(worker);
          // A worker that cannot start would fail every file the same way: stop with its reason.
          if (!ready) return fail(error);
          for (const id of held)
            complete(id, { code: 'INTERNAL_ERROR', message: `The check stopped: ${error.message}.` });
          held.clear();
          if (finished < targets.length && next < targets.length) spawn();
        });
      };
      for (let i = 0; i < jobs; i++) spawn();
    });
  } finally {
    await Promise.all([...workers].map((w) => w.terminate()));
  }
}

// -- the command -----------------------------------------------------------------------------------

function drawProgress(
  io: Io,
  state: { done: number; total: number; bytes: number; totalBytes: number; started: number },
): void {
  const line = formatProgress({
    label: `verifying ${state.done}/${state.total}`,
    bytes: state.bytes,
    total: state.totalBytes,
    elapsedMs: Date.now() - state.started,
    columns: io.stderrTerminal?.columns ?? 80,
  });
  io.err(`\r${line}\x1b[K`);
}

export async function run(argv: string[], io: Io): Promise<number> {
  const parsed = parseCommandArgs(NAME, argv, OPTIONS);
  const paths = parsed.positionals;
  const keyPaths = strs(parsed, 'key');
  const backup = str(parsed, 'backup');
  const escrowKey = str(parsed, 'escrow-key');
  const escrowCert = str(parsed, 'escrow-cert');
  if (paths.length === 0) throw new UsageError('give at least one PATH (a recording or a folder)', NAME);
  if (backup !== undefined && escrowKey === undefined)
    throw new UsageError('--backup needs --escrow-key (the key that opens the backup)', NAME);
  if (backup === undefined && (escrowKey !== undefined || escrowCert !== undefined))
    throw new UsageError('--escrow-key and --escrow-cert go with --backup', NAME);
  if (keyPaths.length === 0 && backup === undefined)
    throw new UsageError('give the keys: --key KEY (repeatable), or --backup BACKUP --escrow-key KEY', NAME);
  const jobs = intOption(parsed, 'jobs', NAME, { min: 1, max: 1024, fallback: availableParallelism() });
  const password = await readPassword(io, parsed.values as Record<string, string | undefined>, NAME);

  const keys: WorkerKeys = { certified: [], bare: keyPaths.map((p) => loadKeyFile(io, p, password)) };
  let notEscrowed: string[] = [];
  if (backup !== undefined) {
    const loaded = await loadBackup(io, backup, escrowKey!, escrowCert, password);
    keys.certified = loaded.certified;
    notEscrowed = loaded.notEscrowed;
  }
  if (keys.certified.length === 0 && keys.bare.length === 0) {
    throw new RefusedError(
      'NO_KEYS',
      `the backup '${backup}' holds no escrowed key to check recordings with`,
    );
  }

  const found = await findRecordings(io, paths);
  // Largest first: the big files start while the small ones fill the other workers, so the run
  // does not end waiting on one big file that started last.
  const targets = [...found.targets].sort((a, b) => b.size - a.size);
  const failed: Failure[] = [...found.failed];
  const progress = {
    done: 0,
    total: targets.length,
    bytes: 0,
    totalBytes: targets.reduce((n, t) => n + t.size, 0),
    started: Date.now(),
  };
  const inFlight = new Map<number, number>();
  const timer = io.stderrTerminal
    ? setInterval(() => {
        let bytes = progress.bytes;
        for (const b of inFlight.values()) bytes += b;
        drawProgress(io, { ...progress, bytes });
      }, REDRAW_MS)
    : undefined;
  try {
    if (targets.length > 0) {
      await runPool(targets, keys, Math.min(jobs, targets.length), {
        onProgress: (id, bytes) => inFlight.set(id, bytes),
        onDone: (id, outcome) => {
          inFlight.delete(id);
          const target = targets[id]!;
          progress.done++;
          progress.bytes += target.size;
          if (outcome.code !== undefined)
            failed.push({ path: target.shown, code: outcome.code, message: outcome.message ?? '' });
        },
      });
    }
  } finally {
    if (timer) {
      clearInterval(timer);
      drawProgress(io, progress);
      io.err('\n');
    }
  }
  failed.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  // What could not even be listed counts as a file that failed: files = ok + failed.
  const files = targets.length + found.failed.length;
  const ok = files - failed.length;
  const seconds = (Date.now() - progress.started) / 1000;

  if (parsed.values.json === true) {
    io.out(
      json({
        files,
        ok,
        failed: failed.map((f) => ({ path: f.path, code: f.code, message: f.message })),
        skipped: found.skipped,
        ...(notEscrowed.length > 0 ? { notEscrowed } : {}),
      }),
    );
  } else {
    const lines: string[] = [];
    for (const f of failed) lines.push(`${f.code}  ${escapeControls(f.path)}: ${escapeControls(f.message)}`);
    for (const s of found.skipped) lines.push(`skipped  ${escapeControls(s.path)}: ${s.reason}`);
    if (notEscrowed.length > 0)
      lines.push(
        `note: the backup has no key for ${notEscrowed.length} certificate(s) (${escapeControls(notEscrowed.join(', '))}): their recordings cannot be checked with it`,
      );
    const mb = progress.totalBytes / 1e6;
    lines.push(
      `${files} recording(s) checked: ${ok} ok, ${failed.length} failed (${mb.toFixed(1)} MB in ${seconds.toFixed(1)} s)`,
    );
    io.out(`${lines.join('\n')}\n`);
  }
  return failed.length > 0 ? EXIT.refused : EXIT.ok;
}
