/**
 * Starts what the security project needs, once, in jest's parent process (so process.env reaches
 * every worker): a moto server for the AWS runtime, and the encrypted private keys of the
 * key-derivation cost checks, made by the openssl CLI (the independent peer). Making them here
 * costs one openssl run each per jest run (the scrypt p=200 key alone takes seconds).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureMotoInstalled, startMoto } from '../../scripts/emulators/moto-server';
import { KDF_KEYS, MATERIAL_ENV, MOTO_ENV, MOTO_PID_ENV } from './material';

const run = promisify(execFile);

export default async function globalSetup(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'reccert-security-'));
  process.env[MATERIAL_ENV] = dir;
  const keys = (async () => {
    const plain = join(dir, 'kdf-base.key');
    await run('openssl', ['genrsa', '-out', plain, '2048']);
    await run('openssl', [
      'req',
      '-new',
      '-x509',
      '-key',
      plain,
      '-out',
      join(dir, 'kdf-base.pem'),
      '-days',
      '365',
      '-subj',
      '/CN=KDF cost/O=reccert security tests',
    ]);
    await Promise.all(
      KDF_KEYS.map((k) =>
        run('openssl', [
          'pkcs8',
          '-topk8',
          '-v2',
          'aes-256-cbc',
          ...k.opensslArgs,
          '-in',
          plain,
          '-passout',
          'pass:pw',
          '-out',
          join(dir, `${k.name}.key`),
        ]),
      ),
    );
  })();
  ensureMotoInstalled();
  const moto = await startMoto();
  process.env[MOTO_ENV] = moto.endpoint;
  process.env[MOTO_PID_ENV] = String(moto.pid);
  (globalThis as { __reccertSecurity?: { motoPid: number; dir: string } }).__reccertSecurity = {
    motoPid: moto.pid,
    dir,
  };
  await keys;
  writeFileSync(join(dir, 'ready'), new Date().toISOString());
}
