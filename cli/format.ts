/** Human-readable output shared by the commands (the `--json` output is the objects themselves). */
import type { CertificateDetails } from '../shared/domain/types';
import type { Warning } from '../shared/errors';

/** Label/value lines, the labels padded to one column. */
export function table(rows: Array<[label: string, value: string | number | boolean | undefined]>): string {
  const shown = rows.filter(([, value]) => value !== undefined && value !== '');
  const width = Math.max(...shown.map(([label]) => label.length)) + 2;
  return shown
    .map(
      ([label, value]) =>
        `${`${label}:`.padEnd(width)}${typeof value === 'boolean' ? (value ? 'yes' : 'no') : value}`,
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
  return warnings.map((w) => `warning ${w.code}: ${w.message}`).join('\n');
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
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
