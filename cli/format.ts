/** Human-readable output shared by the commands (the `--json` output is the objects themselves). */
import type { CertificateDetails } from '../shared/domain/types';
import type { Warning } from '../shared/errors';

/**
 * Text from a certificate made safe for a terminal: C0 controls and DEL as `\XX`, exactly as
 * `openssl x509 -nameopt RFC2253,-esc_msb` prints them (so ESC, CR and LF never reach the
 * terminal), and C1 controls (U+0080-U+009F, which some terminals obey as CSI and the like) as
 * their UTF-8 bytes `\C2\XX`, the form openssl gives bytes above 0x7F when it escapes them
 * (under -esc_msb it prints those two raw). Bidirectional controls (U+061C, U+200E-U+200F,
 * U+202A-U+202E, U+2066-U+2069) are escaped the same way, as their UTF-8 bytes: they would
 * make a terminal show a subject in another order than it is ("Trojan Source").
 * Everything else is left as it is.
 */
export function escapeControls(text: string): string {
  let out = '';
  for (const c of text) {
    const code = c.charCodeAt(0);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f))
      out += code < 0x80 ? hex(code) : `${hex(0xc2)}${hex(code)}`;
    else if (isBidiControl(code)) out += [...Buffer.from(c, 'utf8')].map(hex).join('');
    else out += c;
  }
  return out;
}

function isBidiControl(code: number): boolean {
  return (
    code === 0x061c ||
    code === 0x200e ||
    code === 0x200f ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  );
}

function hex(byte: number): string {
  return `\\${byte.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** Label/value lines, the labels padded to one column; values with control characters escaped. */
export function table(rows: Array<[label: string, value: string | number | boolean | undefined]>): string {
  const shown = rows.filter(([, value]) => value !== undefined && value !== '');
  const width = Math.max(...shown.map(([label]) => label.length)) + 2;
  return shown
    .map(
      ([label, value]) =>
        `${`${label}:`.padEnd(width)}${typeof value === 'boolean' ? (value ? 'yes' : 'no') : escapeControls(String(value))}`,
    )
    .join('\n');
}

/** The certificate fields the upload API shows (DESIGN section 4), in its order. */
export function detailRows(details: CertificateDetails): Array<[string, string | number | boolean]> {
  return [
    ['Subject Name', details.subjectName],
    ['Serial Number', details.serialNumber],
    ['Subject DN', details.subjectDN],
    ['Issuer DN', details.issuerDN],
    ['Valid from', details.notBefore],
    ['Valid until', details.notAfter],
    ['Key', `${details.keyAlgorithm} ${details.keySize} bits`],
    ['SHA-256 fingerprint', details.fingerprintSha256],
    ['Self-signed', details.selfSigned],
  ];
}

export function warningLines(warnings: readonly Warning[]): string {
  return warnings.map((w) => `warning ${w.code}: ${escapeControls(w.message)}`).join('\n');
}

/**
 * Pretty JSON. JSON.stringify escapes C0 controls but leaves DEL, C1 and the bidirectional
 * controls raw; those are written as \u escapes too (the same JSON value), so `--json` never
 * sends a terminal control either.
 */
export function json(value: unknown): string {
  const text = JSON.stringify(value, null, 2);
  let out = '';
  for (const c of text) {
    const code = c.charCodeAt(0);
    out +=
      (code >= 0x7f && code <= 0x9f) || isBidiControl(code) ? `\\u${code.toString(16).padStart(4, '0')}` : c;
  }
  return `${out}\n`;
}

const KEY_FORMAT_NAMES: Record<string, string> = {
  pkcs1: 'PKCS#1',
  pkcs8: 'PKCS#8',
  'encrypted-pkcs8': 'encrypted PKCS#8',
  'encrypted-pkcs1': 'encrypted PKCS#1',
};

/** `pkcs1` → `PKCS#1`, and so on. */
export function keyFormatName(format: string): string {
  return KEY_FORMAT_NAMES[format] ?? format;
}
