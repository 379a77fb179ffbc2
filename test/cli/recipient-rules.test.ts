import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { hostileRsaCases } from '../helpers/hostile-rsa';
import { writeTemp } from '../helpers/pki';
import { errorLine, reccert, tempDir } from './cli';

describe('reccert with a hostile recipient certificate', () => {
  it('refuses to encrypt for a certificate with e=1 (WEAK_PUBLIC_KEY) and writes nothing', async () => {
    const e1 = (await hostileRsaCases()).find((c) => c.name === 'public exponent 1')!;
    const dir = tempDir();
    writeTemp(dir, 'e1.pem', e1.certificatePem);
    writeTemp(dir, 'call.wav', 'RIFF....WAVEfmt ');

    const result = await reccert(['encrypt', '--cert', 'e1.pem', 'call.wav', 'call.cms'], { cwd: dir });

    expect(result.code).toBe(1);
    expect(errorLine(result)).toMatch(/^WEAK_PUBLIC_KEY: .*public exponent 1 is below 65537/);
    expect(existsSync(join(dir, 'call.cms'))).toBe(false);
  });

  it('refuses to inspect a certificate whose key has a wrong CRT value (INVALID_PRIVATE_KEY)', async () => {
    const wrongDq = (await hostileRsaCases()).find((c) => c.name === 'wrong dQ')!;
    const dir = tempDir();
    writeTemp(dir, 'c.pem', wrongDq.certificatePem);
    writeTemp(dir, 'k.pem', wrongDq.privateKeyPem);

    const result = await reccert(['inspect', 'c.pem', 'k.pem', '--at', '2026-06-01'], { cwd: dir });

    expect(result.code).toBe(1);
    expect(errorLine(result)).toMatch(/^INVALID_PRIVATE_KEY: .*dQ/);
  });
});
