/**
 * `reccert encrypt --cert tenant.pem [--cert next.pem] IN OUT`: a recording as CMS
 * AuthEnvelopedData (AES-256-GCM, RSA-OAEP SHA-256 per recipient) that `openssl cms -decrypt`
 * opens, streamed in constant memory.
 */
import { promises as fs } from 'node:fs';
import { resolve } from 'node:path';
import { checkRecipientCertificate } from '../../shared/pki/validate';
import { encryptFile } from '../../shared/recording';
import { flag, parseCommandArgs, positionals, strs } from '../args';
import { EXIT, UsageError } from '../errors';
import { json, table } from '../format';
import { fsReason, type Io, readInputFile, refuseOverwrite } from '../io';
import { ProgressMeter } from '../progress';

const NAME = 'encrypt';

export const help = `Usage: reccert encrypt --cert CERT [--cert CERT2 ...] IN OUT [--force] [--json]

Encrypt the recording IN to OUT for every certificate given: CMS AuthEnvelopedData with
AES-256-GCM and the session key wrapped with RSA-OAEP (SHA-256) for each recipient, as
  openssl cms -encrypt -binary -aes-256-gcm -recip CERT -keyopt rsa_padding_mode:oaep \\
    -keyopt rsa_oaep_md:sha256 -keyopt rsa_mgf1_md:sha256 -outform DER -in IN -out OUT
writes it. Give the active certificate and its successor during a rotation, so that either key
plays the recording.

Options:
  --cert CERT   a recipient's certificate (PEM); repeat for several recipients
  --force       replace OUT if it exists
  --json        print the result as JSON
  -h, --help    show this help

OUT appears complete or not at all. A progress bar is shown when stderr is a terminal.
`;

const OPTIONS = { cert: { type: 'string', multiple: true }, force: { type: 'boolean' } } as const;

export async function run(argv: string[], io: Io): Promise<number> {
  const parsed = parseCommandArgs(NAME, argv, OPTIONS);
  const [input, output] = positionals(parsed, NAME, ['IN', 'OUT'], 2) as [string, string];
  const certPaths = strs(parsed, 'cert');
  if (certPaths.length === 0)
    throw new UsageError('give at least one --cert (the recipient certificate)', NAME);
  const certificates = certPaths.map((p) => readInputFile(io, p, 'certificate', NAME));
  // Rule 2 for recipients too: a certificate with e=1 would "encrypt" to anyone who reads it.
  for (const certificate of certificates) checkRecipientCertificate(certificate);
  refuseOverwrite(io, output, flag(parsed, 'force'));
  const inPath = resolve(io.cwd, input);
  const stat = await fs.stat(inPath).catch((error: unknown) => {
    throw new UsageError(`cannot read recording '${input}': ${fsReason(error)}`, NAME);
  });
  if (!stat.isFile()) throw new UsageError(`'${input}' is not a file`, NAME);

  const meter = new ProgressMeter(io, 'encrypting', stat.size);
  const started = Date.now();
  try {
    await encryptFile(inPath, resolve(io.cwd, output), certificates, {
      onProgress: (bytes) => meter.update(bytes),
    });
  } catch (error) {
    meter.clear();
    throw error;
  }
  meter.finish();
  const seconds = (Date.now() - started) / 1000;
  const bytesOut = (await fs.stat(resolve(io.cwd, output))).size;
  if (flag(parsed, 'json')) {
    io.out(json({ input, output, recipients: certPaths, bytesIn: stat.size, bytesOut, seconds }));
    return EXIT.ok;
  }
  io.out(
    `${table([
      ['Encrypted', `${input} -> ${output}`],
      ['Recipients', certPaths.join(', ')],
      ['Size', `${stat.size} bytes in, ${bytesOut} bytes out`],
    ])}\n`,
  );
  return EXIT.ok;
}
