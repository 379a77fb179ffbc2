import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorLine, filesIn, openssl, reccert, tempDir } from './cli';

const MiB = 1024 * 1024;

function makePair(dir: string, name: string): void {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${name}`,
      '-days',
      '1',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
    ],
    { cwd: dir },
  );
}

function opensslEncrypt(dir: string, plain: string, out: string, recip: string): void {
  openssl(
    [
      'cms',
      '-encrypt',
      '-binary',
      '-aes-256-gcm',
      '-recip',
      `${recip}.pem`,
      '-keyopt',
      'rsa_padding_mode:oaep',
      '-keyopt',
      'rsa_oaep_md:sha256',
      '-in',
      plain,
      '-outform',
      'DER',
      '-out',
      out,
    ],
    { cwd: dir },
  );
}

/** Whether `openssl cms -decrypt` with `name`'s key gives back `plain`. */
function opensslOpens(dir: string, cms: string, name: string, plain: string): boolean {
  try {
    openssl(
      [
        'cms',
        '-decrypt',
        '-binary',
        '-inform',
        'DER',
        '-in',
        cms,
        '-inkey',
        `${name}.key`,
        '-recip',
        `${name}.pem`,
        '-out',
        `${cms}.out`,
      ],
      { cwd: dir },
    );
  } catch {
    return false;
  }
  return readFileSync(join(dir, `${cms}.out`)).equals(readFileSync(join(dir, plain)));
}

describe('reccert rewrap', () => {
  const dir = tempDir();
  beforeAll(() => {
    makePair(dir, 'old');
    makePair(dir, 'new');
    makePair(dir, 'escrow');
    writeFileSync(join(dir, 'call.wav'), randomBytes(2 * MiB + 7));
    opensslEncrypt(dir, 'call.wav', 'call.cms', 'old');
  });

  it('rewraps for new certificates so that their keys open it and the old key no longer does', async () => {
    const result = await reccert(
      ['rewrap', '--key', 'old.key', '--to', 'new.pem', '--to', 'escrow.pem', 'call.cms', 'moved.cms'],
      { cwd: dir },
    );

    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Recipients now:');
    expect(opensslOpens(dir, 'moved.cms', 'new', 'call.wav')).toBe(true);
    expect(opensslOpens(dir, 'moved.cms', 'escrow', 'call.wav')).toBe(true);
    expect(opensslOpens(dir, 'moved.cms', 'old', 'call.wav')).toBe(false);
  });

  it('with --keep-recipients the old key still opens it', async () => {
    const result = await reccert(
      [
        'rewrap',
        '--key',
        'old.key',
        '--to',
        'new.pem',
        '--keep-recipients',
        '--json',
        'call.cms',
        'kept.cms',
      ],
      { cwd: dir },
    );

    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ recipients: 2, bytesOut: expect.any(Number) });
    expect(opensslOpens(dir, 'kept.cms', 'old', 'call.wav')).toBe(true);
    expect(opensslOpens(dir, 'kept.cms', 'new', 'call.wav')).toBe(true);
  });

  it('refuses a tampered recording with INTEGRITY_CHECK_FAILED and writes nothing', async () => {
    const bytes = readFileSync(join(dir, 'call.cms'));
    bytes[bytes.length - 500]! ^= 0x04;
    const work = tempDir();
    writeFileSync(join(work, 'bad.cms'), bytes);
    for (const f of ['old.key', 'new.pem']) writeFileSync(join(work, f), readFileSync(join(dir, f)));

    const result = await reccert(['rewrap', '--key', 'old.key', '--to', 'new.pem', 'bad.cms', 'out.cms'], {
      cwd: work,
    });

    expect(result.code).toBe(1);
    expect(errorLine(result)).toContain('INTEGRITY_CHECK_FAILED');
    expect(filesIn(work)).toEqual(['bad.cms', 'new.pem', 'old.key']);
  });

  it('refuses to overwrite an output without --force', async () => {
    writeFileSync(join(dir, 'taken.cms'), 'keep me');

    const result = await reccert(['rewrap', '--key', 'old.key', '--to', 'new.pem', 'call.cms', 'taken.cms'], {
      cwd: dir,
    });

    expect(result.code).toBe(1);
    expect(errorLine(result)).toContain('FILE_EXISTS');
    expect(readFileSync(join(dir, 'taken.cms'), 'utf8')).toBe('keep me');
  });

  it('needs --to', async () => {
    const result = await reccert(['rewrap', '--key', 'old.key', 'call.cms', 'x.cms'], { cwd: dir });

    expect(result.code).toBe(2);
    expect(errorLine(result)).toContain('--to');
  });

  it('rewraps a folder on worker threads, reports the failures in JSON and leaves nothing for them', async () => {
    mkdirSync(join(dir, 'in/sub'), { recursive: true });
    writeFileSync(join(dir, 'in/a.cms'), readFileSync(join(dir, 'call.cms')));
    writeFileSync(join(dir, 'in/sub/b.cms'), readFileSync(join(dir, 'call.cms')));
    const tampered = readFileSync(join(dir, 'call.cms'));
    tampered[tampered.length - 3]! ^= 0x01;
    writeFileSync(join(dir, 'in/sub/tampered.cms'), tampered);
    writeFileSync(join(dir, 'in/notes.txt'), 'not a recording');

    const result = await reccert(
      ['rewrap', '--key', 'old.key', '--to', 'new.pem', '--out-dir', 'out', '--jobs', '2', '--json', 'in'],
      { cwd: dir },
    );

    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toEqual({
      files: 4,
      ok: 2,
      failed: [
        { path: 'notes.txt', code: 'NOT_CMS', message: expect.any(String) },
        { path: join('sub', 'tampered.cms'), code: 'INTEGRITY_CHECK_FAILED', message: expect.any(String) },
      ],
    });
    expect(filesIn(join(dir, 'out'))).toEqual(['a.cms', 'sub']);
    expect(filesIn(join(dir, 'out/sub'))).toEqual(['b.cms']);
    expect(opensslOpens(dir, 'out/a.cms', 'new', 'call.wav')).toBe(true);
    expect(opensslOpens(dir, 'out/sub/b.cms', 'new', 'call.wav')).toBe(true);
  });
});
