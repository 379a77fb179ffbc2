/**
 * The command table. To add a command, add one line here and a module under `cli/commands/`
 * that exports `help` and `run` (see `CommandModule`). Modules are loaded only when their
 * command runs, so `reccert --help` and quick commands stay fast.
 */
import type { CommandModule } from './command';

export interface CommandEntry {
  name: string;
  /** One line for `reccert --help`. */
  summary: string;
  load: () => CommandModule;
}

// require() rather than import(): under tsx's CommonJS hook a dynamic import() of a .ts file
// goes to Node's ESM loader, which cannot load TypeScript.
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'keygen',
    summary: 'Generate an RSA key and a self-signed recording certificate',
    load: () => require('./commands/keygen'),
  },
  {
    name: 'convert-key',
    summary: 'Convert a PKCS#1 or encrypted key to unencrypted PKCS#8',
    load: () => require('./commands/convert-key'),
  },
  {
    name: 'inspect',
    summary: 'Show what the upload API would say about a certificate (and key), offline',
    load: () => require('./commands/inspect'),
  },
  {
    name: 'upload',
    summary: 'Upload a certificate and its private key to a reccert service',
    load: () => require('./commands/upload'),
  },
  {
    name: 'encrypt',
    summary: 'Encrypt a recording for one or more certificates (openssl cms compatible)',
    load: () => require('./commands/encrypt'),
  },
  {
    name: 'decrypt',
    summary: 'Decrypt a recording with a private key; output only if it proves genuine',
    load: () => require('./commands/decrypt'),
  },
  {
    name: 'escrow',
    summary: 'Register or show the escrow certificate every private key is also sealed to',
    load: () => require('./commands/escrow'),
  },
  {
    name: 'backup',
    summary: 'Download, open (with the escrow key) or restore the key backup',
    load: () => require('./commands/backup'),
  },
  {
    name: 'verify-recordings',
    summary: 'Check that every recording in files or folders opens with the keys held (exit drill)',
    load: () => require('./commands/verify-recordings'),
  },
  {
    name: 'rewrap',
    summary: 'Give recordings to other certificates: new header, same content and tag, verified',
    load: () => require('./commands/rewrap'),
  },
  {
    name: 'token',
    summary: 'Mint a bearer token for the local runtime',
    load: () => require('./commands/token'),
  },
];

export function findCommand(name: string): CommandEntry | undefined {
  return COMMANDS.find((c) => c.name === name);
}
