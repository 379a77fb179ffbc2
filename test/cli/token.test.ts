import { statSync } from 'node:fs';
import { join } from 'node:path';
import { loadOrCreateTokenSecret, verifyLocalToken } from '../../functions/common/local-tokens';
import { errorLine, reccert, tempDir } from './cli';

describe('reccert token', () => {
  it('prints a token that verifies with the data directory secret', async () => {
    const dataDir = join(tempDir(), 'data');

    const result = await reccert([
      'token',
      '--tenant',
      'acme',
      '--role',
      'admin',
      '--role',
      'decrypt',
      '--data-dir',
      dataDir,
    ]);

    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const principal = await verifyLocalToken(loadOrCreateTokenSecret(dataDir), result.stdout.trim());
    expect(principal).toEqual({ subject: 'local-admin', tenants: ['acme'], roles: ['admin', 'decrypt'] });
    expect(statSync(join(dataDir, 'token.secret')).mode & 0o777).toBe(0o600);
  });

  it('uses $DATA_DIR, --subject and --ttl, and prints JSON with --json', async () => {
    const dataDir = tempDir();
    const before = Date.now();

    const result = await reccert(
      [
        'token',
        '--tenant',
        'a',
        '--tenant',
        'b',
        '--role',
        'admin',
        '--subject',
        'alice',
        '--ttl',
        '600',
        '--json',
      ],
      {
        env: { DATA_DIR: dataDir },
      },
    );

    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out).toMatchObject({ subject: 'alice', tenants: ['a', 'b'], roles: ['admin'] });
    const expiresIn = (Date.parse(out.expiresAt) - before) / 1000;
    expect(expiresIn).toBeGreaterThan(595);
    expect(expiresIn).toBeLessThan(605);
    const principal = await verifyLocalToken(loadOrCreateTokenSecret(dataDir), out.token);
    expect(principal).toEqual({ subject: 'alice', tenants: ['a', 'b'], roles: ['admin'] });
  });

  it('mints an operator-only token without a tenant', async () => {
    const dataDir = tempDir();

    const result = await reccert(['token', '--role', 'operator', '--data-dir', dataDir]);

    expect(result.code).toBe(0);
    const principal = await verifyLocalToken(loadOrCreateTokenSecret(dataDir), result.stdout.trim());
    expect(principal.roles).toEqual(['operator']);
  });

  it.each([
    ['no role', ['--tenant', 'acme'], /missing --role/],
    [
      'an unknown role',
      ['--tenant', 'acme', '--role', 'root'],
      /--role must be admin, decrypt, operator; not 'root'/,
    ],
    ['no tenant for an admin', ['--role', 'admin'], /missing --tenant/],
    ['an empty tenant', ['--tenant', ' ', '--role', 'admin'], /--tenant must not be empty/],
    [
      'a ttl of 10 seconds',
      ['--tenant', 'acme', '--role', 'admin', '--ttl', '10'],
      /--ttl must be 60 to 2592000; got 10/,
    ],
  ])('refuses %s with exit code 2', async (_name, args, message) => {
    const dataDir = tempDir();

    const result = await reccert(['token', ...args, '--data-dir', dataDir]);

    expect(result.code).toBe(2);
    expect(errorLine(result)).toMatch(message);
  });
});
