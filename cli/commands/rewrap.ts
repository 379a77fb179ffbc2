/**
 * `reccert rewrap --key old.key --to new.pem IN OUT`: hands a recording to other certificates
 * (key rotation, a compromised key, leaving a vendor) by rewriting its header alone; the encrypted
 * content and tag are copied unchanged and checked as they pass. OUT appears only once the tag
 * verified. With `--out-dir`, IN is a folder and every file in it is rewrapped on worker threads.
 */
import type { KeyObject } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ANY_KEY_FORMAT, parsePrivateKeyInput } from '../../shared/pki/validate';
import { createRewrapStream, PrivateKeyUnwrapper, READ_CHUNK_SIZE } from '../../shared/recording';
import { writeAtomically } from '../../shared/recording/files';
import { rewrapTargets } from '../../shared/recording/rewrap';
import { flag, intOption, parseCommandArgs, positionals, str, strs } from '../args';
import { EXIT, UsageError } from '../errors';
import { json, table } from '../format';
import { fsReason, type Io, readInputFile, readPassword, refuseOverwrite } from '../io';
import { formatProgress, ProgressMeter } from '../progress';
import { runRewrapPool } from '../rewrap-workers';

const NAME = 'rewrap';

export const help = `Usage: reccert rewrap --key KEY [--cert CERT] [--password PW | --password-file FILE]
                      --to CERT [--to CERT ...] [--keep-recipients] IN OUT [--force] [--json]
       reccert rewrap --key KEY ... --to CERT ... --out-dir DIR IN_DIR [--jobs N] [--force] [--json]

Give the recording IN to other certificates without decrypting its media: the session key is
unwrapped once with KEY, wrapped for each --to certificate (RSA-OAEP-SHA256), and the encrypted
content and GCM tag are copied byte for byte. Use it when a key is rotated or compromised, or
to hand recordings to another system. The tag is verified as the content passes: OUT is written
under a temporary name and renamed only once it verified, so a damaged recording leaves nothing.

Options:
  --key KEY             a private key that opens the recordings (PKCS#8, PKCS#1 or encrypted PEM)
  --cert CERT           KEY's certificate: only its recipient entry is tried (optional)
  --password PW         password of an encrypted KEY
  --password-file FILE  read the password from the first line of FILE ('-' = standard input)
  --to CERT             a certificate to rewrap for (repeat for several, e.g. an escrow one)
  --keep-recipients     keep the current recipients and add the --to ones (default: replace
                        them, so that KEY no longer opens the result)
  --out-dir DIR         folder mode: rewrap every file under the folder IN_DIR into DIR (same
                        relative names; hidden files are skipped)
  --jobs N              folder mode: worker threads (default: one per core)
  --force               replace outputs that exist
  --json                print the result as JSON (folder mode: {files, ok, failed: [{path, code,
                        message}]})
  -h, --help            show this help

Errors (exit code 1): NOT_CMS, NO_MATCHING_KEY, TOO_MANY_RECIPIENTS (more than 16 recipients
in the result), INTEGRITY_CHECK_FAILED (tampered or truncated; nothing is written). In folder
mode every file is tried, the failed ones are listed, and the exit code is 1 if any failed.
A progress bar is shown when stderr is a terminal.
`;

const OPTIONS = {
  key: { type: 'string' },
  cert: { type: 'string' },
  password: { type: 'string' },
  'password-file': { type: 'string' },
  to: { type: 'string', multiple: true },
  'keep-recipients': { type: 'boolean' },
  'out-dir': { type: 'string' },
  jobs: { type: 'string' },
  force: { type: 'boolean' },
} as const;

interface Setup {
  /** Loaded once (password applied); the workers get it as PKCS#8 DER. */
  key: KeyObject;
  unwrapper: PrivateKeyUnwrapper;
  certificate: string | undefined;
  to: string[];
  keepRecipients: boolean;
}

export async function run(argv: string[], io: Io): Promise<number> {
  const parsed = parseCommandArgs(NAME, argv, OPTIONS);
  const keyPath = str(parsed, 'key');
  if (keyPath === undefined) throw new UsageError('give the private key with --key', NAME);
  const toPaths = strs(parsed, 'to');
  if (toPaths.length === 0)
    throw new UsageError('give at least one certificate to rewrap for with --to', NAME);
  const certPath = str(parsed, 'cert');
  const password = await readPassword(io, parsed.values as Record<string, string | undefined>, NAME);
  const privateKey = readInputFile(io, keyPath, 'key file', NAME);
  const certificate = certPath === undefined ? undefined : readInputFile(io, certPath, 'certificate', NAME);
  const to = toPaths.map((p) => readInputFile(io, p, 'certificate', NAME));
  rewrapTargets(to); // a target that cannot receive recordings is refused before any file is read
  const key = parsePrivateKeyInput(privateKey, password, ANY_KEY_FORMAT).key;
  const setup: Setup = {
    key,
    unwrapper: new PrivateKeyUnwrapper({
      privateKey: key,
      ...(certificate === undefined ? {} : { certificate }),
    }),
    certificate,
    to,
    keepRecipients: flag(parsed, 'keep-recipients'),
  };
  const outDir = str(parsed, 'out-dir');
  if (outDir !== undefined) {
    const [input] = positionals(parsed, NAME, ['IN_DIR'], 1) as [string];
    const jobs = intOption(parsed, 'jobs', NAME, { min: 1, max: 256, fallback: availableParallelism() });
    return rewrapFolder(io, setup, input, outDir, jobs, flag(parsed, 'force'), flag(parsed, 'json'));
  }
  if (str(parsed, 'jobs') !== undefined)
    throw new UsageError('--jobs goes with --out-dir (folder mode)', NAME);
  const [input, output] = positionals(parsed, NAME, ['IN', 'OUT'], 2) as [string, string];
  return rewrapOne(io, setup, input, output, flag(parsed, 'force'), flag(parsed, 'json'));
}

async function rewrapOne(
  io: Io,
  setup: Setup,
  input: string,
  output: string,
  force: boolean,
  asJson: boolean,
): Promise<number> {
  refuseOverwrite(io, output, force);
  const inPath = path.resolve(io.cwd, input);
  const stat = await fs.stat(inPath).catch((error: unknown) => {
    throw new UsageError(`cannot read recording '${input}': ${fsReason(error)}`, NAME);
  });
  if (!stat.isFile())
    throw new UsageError(`'${input}' is not a file (give --out-dir DIR for a folder)`, NAME);

  const rewrap = createRewrapStream(setup.unwrapper, {
    to: setup.to,
    keepRecipients: setup.keepRecipients,
    ...(setup.certificate === undefined ? {} : { certificates: [setup.certificate] }),
  });
  const meter = new ProgressMeter(io, 'rewrapping', stat.size);
  let result: Awaited<typeof rewrap.completed>;
  try {
    result = await writeAtomically(path.resolve(io.cwd, output), async (out) => {
      await pipeline(createReadStream(inPath, { highWaterMark: READ_CHUNK_SIZE }), meter, rewrap, out);
      return rewrap.completed;
    });
  } catch (error) {
    meter.clear();
    throw error;
  }
  meter.finish();
  if (asJson) {
    io.out(
      json({
        input,
        output,
        bytesOut: result.bytesOut,
        recipients: result.recipients,
        unwrappedWith: result.recipient.serialHex,
      }),
    );
    return EXIT.ok;
  }
  io.out(
    `${table([
      ['Rewrapped', `${input} -> ${output}`],
      ['Unwrapped with serial', result.recipient.serialHex],
      ['Recipients now', result.recipients],
      ['Size', `${result.bytesOut} bytes, content and tag unchanged, integrity verified`],
    ])}\n`,
  );
  return EXIT.ok;
}

/** The regular files under `dir`, relative to it, hidden ones (and temporary files) skipped. */
async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const entries = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
  const files: string[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.name.startsWith('.')) continue;
    const name = path.join(rel, e.name);
    if (e.isDirectory()) files.push(...(await listFiles(dir, name)));
    else if (e.isFile()) files.push(name);
  }
  return files;
}

async function rewrapFolder(
  io: Io,
  setup: Setup,
  input: string,
  outDir: string,
  jobs: number,
  force: boolean,
  asJson: boolean,
): Promise<number> {
  const inDir = path.resolve(io.cwd, input);
  const target = path.resolve(io.cwd, outDir);
  const stat = await fs.stat(inDir).catch((error: unknown) => {
    throw new UsageError(`cannot read folder '${input}': ${fsReason(error)}`, NAME);
  });
  if (!stat.isDirectory()) throw new UsageError(`'${input}' is not a folder (--out-dir needs one)`, NAME);
  if (target === inDir) throw new UsageError('--out-dir must not be the input folder itself', NAME);
  const files = await listFiles(inDir);
  const failed: { path: string; code: string; message: string }[] = [];
  const work: { inPath: string; outPath: string; rel: string }[] = [];
  for (const rel of files) {
    const outPath = path.join(target, rel);
    try {
      refuseOverwrite(io, outPath, force);
    } catch (error) {
      failed.push({ path: rel, code: 'FILE_EXISTS', message: (error as Error).message });
      continue;
    }
    await fs.mkdir(path.dirname(outPath), { recursive: true });
    work.push({ inPath: path.join(inDir, rel), outPath, rel });
  }

  const total = (await Promise.all(work.map((w) => fs.stat(w.inPath).then((s) => s.size)))).reduce(
    (a, b) => a + b,
    0,
  );
  const started = Date.now();
  let bytes = 0;
  let done = 0;
  let ok = 0;
  const draw = (): void => {
    if (!io.stderrTerminal) return;
    const line = formatProgress({
      label: `rewrapping ${done}/${work.length} files`,
      bytes,
      total,
      elapsedMs: Date.now() - started,
      columns: io.stderrTerminal.columns,
    });
    io.err(`\r${line}\x1b[K`);
  };
  const keyDer = setup.key.export({ format: 'der', type: 'pkcs8' });
  const relOf = new Map(work.map((w) => [w.inPath, w.rel]));
  try {
    await runRewrapPool(
      work.map(({ inPath, outPath }) => ({ inPath, outPath })),
      jobs,
      {
        keyDer,
        ...(setup.certificate === undefined ? {} : { certificate: setup.certificate }),
        to: setup.to,
        keepRecipients: setup.keepRecipients,
      },
      (job, outcome) => {
        done++;
        if (outcome.ok) {
          ok++;
          bytes += outcome.bytes;
        } else {
          failed.push({ path: relOf.get(job.inPath)!, code: outcome.code, message: outcome.message });
        }
        draw();
      },
    );
  } finally {
    keyDer.fill(0);
  }
  if (io.stderrTerminal) io.err('\n');
  failed.sort((a, b) => a.path.localeCompare(b.path));
  if (asJson) {
    io.out(json({ files: files.length, ok, failed }));
  } else {
    io.out(
      `${table([
        ['Rewrapped', `${ok} of ${files.length} files from ${input} into ${outDir}`],
        ['Failed', failed.length],
      ])}\n`,
    );
    for (const f of failed) io.out(`  ${f.path}: ${f.code} ${f.message}\n`);
  }
  return failed.length > 0 ? EXIT.refused : EXIT.ok;
}
