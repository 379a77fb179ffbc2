import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { buildSelfSigned } from '../../shared/pki/builder';
import { validateUpload } from '../../shared/pki/validate';
import { daysFrom, rsaKey, writeTemp } from '../helpers/pki';
import { reccert, tempDir } from './cli';

// ESC [31m (a colour change), CR, LF, DEL and NUL in the CN; a C1 CSI (U+009B) in the O.
const CN = 'Evil\u001b[31mRed\r\nLine\u007fDel\u0000Nul';
const O = 'Org\u009b2J';

function certificateFile(): { dir: string; pem: string } {
  const now = new Date();
  const { pem } = buildSelfSigned(rsaKey(), {
    subject: [
      ['CN', CN],
      ['O', O],
    ],
    notBefore: daysFrom(now, -1),
    notAfter: daysFrom(now, 365),
  });
  const dir = tempDir();
  writeTemp(dir, 'evil.pem', pem);
  return { dir, pem };
}

/** What `openssl x509 -noout -subject -nameopt ...` prints after `subject=`. */
function opensslSubject(dir: string, nameopt: string): string {
  return execFileSync('openssl', [
    'x509',
    '-in',
    join(dir, 'evil.pem'),
    '-noout',
    '-subject',
    '-nameopt',
    nameopt,
  ])
    .toString('utf8')
    .replace(/^subject=/, '')
    .replace(/\n$/, '');
}

/** Any C0 control but newline, DEL, or a C1 control. */
function hasTerminalControl(text: string): boolean {
  return [...text].some((c) => {
    const code = c.charCodeAt(0);
    return (code < 0x20 && code !== 0x0a) || (code >= 0x7f && code <= 0x9f);
  });
}

describe('reccert human output with control characters in names', () => {
  it('regression #17: escapes the ESC, CR and LF of a subject as openssl -nameopt RFC2253,-esc_msb does', async () => {
    const { dir } = certificateFile();

    const result = await reccert(['inspect', 'evil.pem'], { cwd: dir });

    expect(result.code).toBe(0);
    expect(hasTerminalControl(result.stdout)).toBe(false);
    const escapedCn = 'Evil\\1B[31mRed\\0D\\0ALine\\7FDel\\00Nul';
    expect(opensslSubject(dir, 'RFC2253,-esc_msb')).toContain(`CN=${escapedCn}`);
    expect(/^Subject Name: +(.*)$/m.exec(result.stdout)?.[1]).toBe(escapedCn);
  });

  it('prints the subject DN as openssl does, with C1 controls as the \\C2\\XX openssl gives escaped bytes', async () => {
    const { dir } = certificateFile();

    const result = await reccert(['inspect', 'evil.pem'], { cwd: dir });

    // With only ASCII and controls in the name, our line is openssl's RFC2253 output exactly;
    // under -esc_msb openssl prints the C1 CSI raw, which is what must not reach a terminal.
    const line = /^Subject DN: +(.*)$/m.exec(result.stdout)?.[1];
    expect(line).toBe(opensslSubject(dir, 'RFC2253'));
    expect(opensslSubject(dir, 'RFC2253,-esc_msb')).toContain('\u009b');
    expect(line).toContain('O=Org\\C2\\9B2J');
  });

  it('keeps the raw names in --json output, escaped by JSON itself', async () => {
    const { dir } = certificateFile();

    const result = await reccert(['inspect', 'evil.pem', '--json'], { cwd: dir });

    expect(result.code).toBe(0);
    expect(hasTerminalControl(result.stdout)).toBe(false);
    const parsed = JSON.parse(result.stdout) as { details: { subjectName: string; subjectDN: string } };
    expect(parsed.details.subjectName).toBe(CN);
    expect(parsed.details.subjectDN).toContain('O=Org\u009b2J');
  });

  it('leaves the names as they are in what the API returns', () => {
    const { pem } = certificateFile();

    const { details } = validateUpload(
      { certificate: pem },
      { flow: 'aws', now: new Date(), requirePrivateKey: false },
    );

    expect(details.subjectName).toBe(CN);
  });

  it('regression: escapes a right-to-left override, so a subject is never shown in another order than it is', async () => {
    const now = new Date();
    const { pem } = buildSelfSigned(rsaKey(), {
      subject: [['CN', 'Recording \u202Etset\u202C Cert\u2066x\u2069']],
      notBefore: daysFrom(now, -1),
      notAfter: daysFrom(now, 365),
    });
    const dir = tempDir();
    writeTemp(dir, 'bidi.pem', pem);

    const human = await reccert(['inspect', 'bidi.pem'], { cwd: dir });
    const machine = await reccert(['inspect', 'bidi.pem', '--json'], { cwd: dir });

    expect(/^Subject Name: +(.*)$/m.exec(human.stdout)?.[1]).toBe(
      'Recording \\E2\\80\\AEtset\\E2\\80\\AC Cert\\E2\\81\\A6x\\E2\\81\\A9',
    );
    expect(machine.stdout).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
    expect((JSON.parse(machine.stdout) as { details: { subjectName: string } }).details.subjectName).toBe(
      'Recording \u202Etset\u202C Cert\u2066x\u2069',
    );
  });
});
