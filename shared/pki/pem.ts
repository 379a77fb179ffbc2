/** PEM blocks (RFC 7468), parsed strictly enough to tell a caller what is wrong. */

export interface PemBlock {
  label: string;
  headers: Record<string, string>;
  der: Buffer;
}

export class PemError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PemError';
  }
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]{1,40})-----([\s\S]*?)-----END ([A-Z0-9 ]{1,40})-----/g;
const BASE64_LINE = /^[A-Za-z0-9+/=]*$/;

/** True when the text contains something that looks like a PEM block. */
export function looksLikePem(text: string): boolean {
  return text.includes('-----BEGIN ');
}

/**
 * Every PEM block in `text`, in order. Text outside blocks is ignored (openssl does the same,
 * and files often carry "Bag Attributes" or comments). A block with a bad body or mismatched
 * END label is an error.
 */
export function parsePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(BLOCK)) {
    const [, label, body, endLabel] = match as unknown as [string, string, string, string];
    if (label !== endLabel) throw new PemError(`the PEM block BEGIN ${label} ends with END ${endLabel}`);
    const headers: Record<string, string> = {};
    const lines = body.split(/\r?\n|\r/).map((l) => l.trim());
    const base64: string[] = [];
    for (const line of lines) {
      if (line === '') continue;
      const header = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (header && base64.length === 0) {
        headers[header[1]!] = header[2]!;
        continue;
      }
      if (!BASE64_LINE.test(line))
        throw new PemError(`the ${label} block contains characters that are not base64`);
      base64.push(line);
    }
    const joined = base64.join('');
    if (joined.length === 0) throw new PemError(`the ${label} block is empty`);
    if (joined.length % 4 !== 0 || /=[^=]/.test(joined)) {
      throw new PemError(`the ${label} block's base64 is truncated or malformed`);
    }
    blocks.push({ label, headers, der: Buffer.from(joined, 'base64') });
  }
  return blocks;
}

/** Encodes DER as a PEM block with 64-character lines. */
export function toPem(label: string, der: Buffer): string {
  const b64 = der.toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
