import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Io } from '../../cli/io';
import { formatProgress, ProgressMeter } from '../../cli/progress';
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

function digest(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

describe('reccert encrypt and decrypt', () => {
  const dir = tempDir();
  beforeAll(() => {
    makePair(dir, 'active');
    makePair(dir, 'next');
    makePair(dir, 'stranger');
    // Not a multiple of the 1 MiB read size, so the last chunk is a partial one.
    writeFileSync(join(dir, 'call.wav'), randomBytes(3 * MiB + 123));
  });

  it('encrypts for two recipients so that openssl opens it with either key', async () => {
    const result = await reccert(
      ['encrypt', '--cert', 'active.pem', '--cert', 'next.pem', 'call.wav', 'two.cms'],
      { cwd: dir },
    );

    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    for (const key of ['active.key', 'next.key']) {
      openssl(
        [
          'cms',
          '-decrypt',
          '-binary',
          '-inform',
          'DER',
          '-inkey',
          key,
          '-in',
          'two.cms',
          '-out',
          `by-${key}.wav`,
        ],
        { cwd: dir },
      );
      expect(digest(join(dir, `by-${key}.wav`))).toBe(digest(join(dir, 'call.wav')));
    }
  });

  it('decrypts what openssl cms -encrypt wrote (AES-256-GCM, RSA-OAEP SHA-256), with or without --cert', async () => {
    openssl(
      [
        'cms',
        '-encrypt',
        '-binary',
        '-aes-256-gcm',
        '-recip',
        'active.pem',
        '-keyopt',
        'rsa_padding_mode:oaep',
        '-keyopt',
        'rsa_oaep_md:sha256',
        '-keyopt',
        'rsa_mgf1_md:sha256',
        '-outform',
        'DER',
        '-in',
        'call.wav',
        '-out',
        'openssl.cms',
      ],
      { cwd: dir },
    );

    const plain = await reccert(['decrypt', '--key', 'active.key', 'openssl.cms', 'plain.wav', '--json'], {
      cwd: dir,
    });
    const withCert = await reccert(
      ['decrypt', '--key', 'active.key', '--cert', 'active.pem', 'openssl.cms', 'cert.wav'],
      { cwd: dir },
    );

    expect(plain.code).toBe(0);
    expect(JSON.parse(plain.stdout)).toMatchObject({ bytesOut: 3 * MiB + 123 });
    expect(withCert.code).toBe(0);
    expect(digest(join(dir, 'plain.wav'))).toBe(digest(join(dir, 'call.wav')));
    expect(digest(join(dir, 'cert.wav'))).toBe(digest(join(dir, 'call.wav')));
  });

  it('refuses a tampered recording with exit 1 and leaves no output file behind', async () => {
    await reccert(['encrypt', '--cert', 'active.pem', 'call.wav', 'tamper.cms'], { cwd: dir });
    const bytes = readFileSync(join(dir, 'tamper.cms'));
    bytes[2 * MiB] = bytes[2 * MiB]! ^ 0x01;
    writeFileSync(join(dir, 'tampered.cms'), bytes);
    const before = filesIn(dir);

    const result = await reccert(['decrypt', '--key', 'active.key', 'tampered.cms', 'out.wav'], { cwd: dir });

    expect(result.code).toBe(1);
    expect(errorLine(result)).toMatch(/^INTEGRITY_CHECK_FAILED: /);
    expect(filesIn(dir)).toEqual(before);
  });

  it('answers NO_MATCHING_KEY for a key the recording was not encrypted for', async () => {
    await reccert(['encrypt', '--cert', 'active.pem', 'call.wav', 'for-active.cms'], { cwd: dir });

    const result = await reccert(['decrypt', '--key', 'stranger.key', 'for-active.cms', 'x.wav'], {
      cwd: dir,
    });

    expect(result.code).toBe(1);
    expect(errorLine(result)).toMatch(/^NO_MATCHING_KEY: /);
  });

  it('answers NOT_CMS for a file that is not a recording', async () => {
    const result = await reccert(['decrypt', '--key', 'active.key', 'call.wav', 'y.wav'], { cwd: dir });

    expect(result.code).toBe(1);
    expect(errorLine(result)).toMatch(/^NOT_CMS: /);
  });

  it('is a usage error (exit 2) without a recipient certificate', async () => {
    const result = await reccert(['encrypt', 'call.wav', 'z.cms'], { cwd: dir });

    expect(result.code).toBe(2);
    expect(errorLine(result)).toMatch(/--cert/);
  });
});

function terminalIo(columns: number): Io & { written: string[] } {
  const written: string[] = [];
  return {
    written,
    out: () => undefined,
    err: (text) => void written.push(text),
    readStdin: async () => '',
    env: {},
    cwd: '.',
    stderrTerminal: { columns },
  };
}

async function pump(meter: ProgressMeter, chunks: number): Promise<void> {
  const source = Readable.from(Array.from({ length: chunks }, () => Buffer.alloc(MiB)));
  await pipeline(source, meter, new Writable({ write: (_c, _e, done) => done() }));
}

describe('progress bar', () => {
  it('shows bytes, percentage, rate and time left', () => {
    const line = formatProgress({
      label: 'decrypting',
      bytes: 100 * MiB,
      total: 400 * MiB,
      elapsedMs: 1000,
      columns: 100,
    });

    expect(line).toMatch(/^decrypting \[#+\.+\] 100\.0 MiB \/ 400\.0 MiB {2}25% {2}105 MB\/s {2}0:03 left$/);
  });

  it('fits a narrow terminal by dropping the bar', () => {
    const line = formatProgress({
      label: 'encrypting',
      bytes: MiB,
      total: 2 * MiB,
      elapsedMs: 500,
      columns: 40,
    });

    expect(line.length).toBeLessThan(40);
    expect(line).not.toContain('[');
  });

  it('redraws at most every 100 ms on a terminal and ends with a new line', async () => {
    const io = terminalIo(80);
    let now = 0;
    const meter = new ProgressMeter(io, 'encrypting', 10 * MiB, () => (now += 30));

    await pump(meter, 10);
    meter.finish();

    const draws = io.written.filter((t) => t.startsWith('\r'));
    expect(draws.length).toBeGreaterThanOrEqual(2);
    expect(draws.length).toBeLessThan(10);
    expect(draws.at(-1)).toContain('10.0 MiB / 10.0 MiB 100%');
    expect(io.written.at(-1)).toBe('\n');
  });

  it('draws nothing when stderr is not a terminal', async () => {
    const io = { ...terminalIo(80), stderrTerminal: undefined };
    const meter = new ProgressMeter(io, 'encrypting', 4 * MiB);

    await pump(meter, 4);
    meter.finish();

    expect(io.written).toEqual([]);
  });
});
