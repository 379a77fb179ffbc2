/**
 * `reccert convert-key IN OUT`: `openssl pkcs8 -topk8 -nocrypt` for the Azure flow, which takes
 * only unencrypted PKCS#8. Reads keys with the upload API's parser, so it accepts exactly the
 * formats the service accepts and refuses with the same codes.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { ANY_KEY_FORMAT, parsePrivateKeyInputAsync } from '../../shared/pki/validate';
import { flag, parseCommandArgs, positionals } from '../args';
import { EXIT } from '../errors';
import { json, keyFormatName, table } from '../format';
import { type Io, readInputFile, readPassword, refuseOverwrite, writeFileAtomic } from '../io';

const NAME = 'convert-key';

export const help = `Usage: reccert convert-key IN OUT [--password PW | --password-file FILE] [--force] [--json]

Write the RSA private key in IN to OUT as unencrypted PKCS#8 (BEGIN PRIVATE KEY), the format the
Azure flow needs. Same result as
  openssl pkcs8 -topk8 -nocrypt -in IN -out OUT
IN may be PKCS#1 (BEGIN RSA PRIVATE KEY), encrypted PKCS#8 (BEGIN ENCRYPTED PRIVATE KEY), an
encrypted PKCS#1 key (Proc-Type: 4,ENCRYPTED) or PKCS#8 already.

Options:
  --password PW         password of an encrypted IN
  --password-file FILE  read the password from the first line of FILE ('-' = standard input),
                        so that it does not appear on the command line
  --force               replace OUT if it exists (OUT may be IN)
  --json                print the result as JSON
  -h, --help            show this help

OUT is written with mode 0600 and appears complete or not at all. Keep it secret: it is the
unencrypted private key.
`;

const OPTIONS = {
  password: { type: 'string' },
  'password-file': { type: 'string' },
  force: { type: 'boolean' },
} as const;

export async function run(argv: string[], io: Io): Promise<number> {
  const parsed = parseCommandArgs(NAME, argv, OPTIONS);
  const [input, output] = positionals(parsed, NAME, ['IN', 'OUT'], 2) as [string, string];
  const force = flag(parsed, 'force');
  const password = await readPassword(io, parsed.values as Record<string, string | undefined>, NAME);
  const text = readInputFile(io, input, 'key file', NAME);
  refuseOverwrite(io, output, force);

  // Converting is the point: PKCS#1 input must be read.
  const parsedKey = await parsePrivateKeyInputAsync(text, password, ANY_KEY_FORMAT);
  const pkcs8 = parsedKey.key.export({ type: 'pkcs8', format: 'pem' }).toString();
  writeFileAtomic(io, output, pkcs8, { mode: 0o600, force });

  const bits = parsedKey.key.asymmetricKeyDetails?.modulusLength ?? 0;
  const from = keyFormatName(parsedKey.format);
  const warnings = parsedKey.warnings;
  if (flag(parsed, 'json')) {
    io.out(json({ input, output, from: parsedKey.format, to: 'pkcs8', keySize: bits, warnings }));
    return EXIT.ok;
  }
  const lines = [
    `Wrote ${output}: unencrypted PKCS#8 (from ${from}), mode 0600.`,
    table([
      ['Key', `RSA ${bits} bits`],
      ['Modulus (SHA-256)', modulusDigest(parsedKey.key)],
    ]),
    ...warnings.map((w) => `warning ${w.code}: ${w.message}`),
  ];
  io.out(`${lines.join('\n')}\n`);
  return EXIT.ok;
}

/** A public, comparable identity of the key (never key bytes): SHA-256 of the modulus. */
function modulusDigest(key: KeyObject): string {
  const n = key.export({ format: 'jwk' }).n ?? '';
  return createHash('sha256').update(Buffer.from(n, 'base64url')).digest('hex');
}
