/**
 * `reccert decrypt --key tenant.key IN OUT`: plays back a recording encrypted for the tenant's
 * certificate (by reccert, the service or `openssl cms -encrypt`). Unlike `openssl cms -decrypt`,
 * which writes the whole plaintext even when the GCM tag fails, OUT appears only once the tag
 * verified; a tampered or truncated file leaves nothing behind and exits 1.
 */
import { promises as fs } from 'node:fs';
import { resolve } from 'node:path';
import { type DecryptResult, decryptFile, PrivateKeyUnwrapper } from '../../shared/recording';
import { flag, parseCommandArgs, positionals, str } from '../args';
import { EXIT, UsageError } from '../errors';
import { json, table } from '../format';
import { fsReason, type Io, readInputFile, readPassword, refuseOverwrite } from '../io';
import { ProgressMeter } from '../progress';

const NAME = 'decrypt';

export const help = `Usage: reccert decrypt --key KEY [--cert CERT] [--password PW | --password-file FILE] IN OUT
                       [--force] [--json]

Decrypt the recording IN (CMS AuthEnvelopedData or EnvelopedData, DER or BER) with the private
key KEY and write the plaintext to OUT, as
  openssl cms -decrypt -binary -inform DER -inkey KEY -in IN -out OUT
does, but OUT is written only once the recording proved genuine (GCM tag verified).

Options:
  --key KEY             the private key (PKCS#8, PKCS#1 or encrypted PEM)
  --cert CERT           the key's certificate: only its recipient entry is tried (optional;
                        without it the key is tried on the recipients in turn, as openssl
                        does, at most 4 of them)
  --password PW         password of an encrypted KEY
  --password-file FILE  read the password from the first line of FILE ('-' = standard input)
  --force               replace OUT if it exists
  --json                print the result as JSON
  -h, --help            show this help

Errors (exit code 1): NOT_CMS (not a CMS recording), NO_MATCHING_KEY (not encrypted for this
key), TOO_MANY_RECIPIENTS (more than 16 recipient entries), INTEGRITY_CHECK_FAILED (tampered
or truncated; nothing is written).
A progress bar is shown when stderr is a terminal.
`;

const OPTIONS = {
  key: { type: 'string' },
  cert: { type: 'string' },
  password: { type: 'string' },
  'password-file': { type: 'string' },
  force: { type: 'boolean' },
} as const;

export async function run(argv: string[], io: Io): Promise<number> {
  const parsed = parseCommandArgs(NAME, argv, OPTIONS);
  const [input, output] = positionals(parsed, NAME, ['IN', 'OUT'], 2) as [string, string];
  const keyPath = str(parsed, 'key');
  if (keyPath === undefined) throw new UsageError('give the private key with --key', NAME);
  const certPath = str(parsed, 'cert');
  const password = await readPassword(io, parsed.values as Record<string, string | undefined>, NAME);
  const privateKey = readInputFile(io, keyPath, 'key file', NAME);
  const certificate = certPath === undefined ? undefined : readInputFile(io, certPath, 'certificate', NAME);
  refuseOverwrite(io, output, flag(parsed, 'force'));
  const inPath = resolve(io.cwd, input);
  const stat = await fs.stat(inPath).catch((error: unknown) => {
    throw new UsageError(`cannot read recording '${input}': ${fsReason(error)}`, NAME);
  });
  if (!stat.isFile()) throw new UsageError(`'${input}' is not a file`, NAME);

  const unwrapper = new PrivateKeyUnwrapper({
    privateKey,
    ...(certificate === undefined ? {} : { certificate }),
    ...(password === undefined ? {} : { password }),
  });
  const meter = new ProgressMeter(io, 'decrypting', stat.size);
  let result: DecryptResult;
  try {
    result = await decryptFile(inPath, resolve(io.cwd, output), unwrapper, {
      ...(certificate === undefined ? {} : { certificates: [certificate] }),
      onProgress: (bytes) => meter.update(bytes),
    });
  } catch (error) {
    meter.clear();
    throw error;
  }
  meter.finish();
  if (flag(parsed, 'json')) {
    io.out(json({ input, output, bytesOut: result.bytesOut, recipientSerial: result.recipient.serialHex }));
    return EXIT.ok;
  }
  io.out(
    `${table([
      ['Decrypted', `${input} -> ${output}`],
      ['Recipient serial', result.recipient.serialHex],
      ['Size', `${result.bytesOut} bytes, integrity verified`],
    ])}\n`,
  );
  return EXIT.ok;
}
