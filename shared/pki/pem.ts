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

const BASE64_LINE = /^[A-Za-z0-9+/=]*$/;

const BEGIN = '-----BEGIN ';
const END = '-----END ';
const DASHES = '-----';
const MAX_LABEL = 40;

function isLabelChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x20;
}

/** The label of a `BEGIN label-----` / `END label-----` marker whose label starts at `start`. */
function labelAt(text: string, start: number): { label: string; end: number } | undefined {
  let i = start;
  while (i < text.length && i - start <= MAX_LABEL && isLabelChar(text.charCodeAt(i))) i++;
  const length = i - start;
  if (length === 0 || length > MAX_LABEL || !text.startsWith(DASHES, i)) return undefined;
  return { label: text.slice(start, i), end: i + DASHES.length };
}

/**
 * BEGIN/END pairs, each BEGIN with the first well-formed END after it. A single forward pass
 * (every character is looked at a bounded number of times), where a regular expression with a
 * lazy body backtracked quadratically on text full of BEGIN lines (issue 13, #10).
 */
function* scanBlocks(text: string): Generator<{ label: string; body: string; endLabel: string }> {
  let pos = 0;
  for (;;) {
    const begin = text.indexOf(BEGIN, pos);
    if (begin < 0) return;
    const opened = labelAt(text, begin + BEGIN.length);
    if (!opened) {
      pos = begin + 1;
      continue;
    }
    let search = opened.end;
    let closed: { label: string; end: number } | undefined;
    let endAt = -1;
    while (!closed) {
      endAt = text.indexOf(END, search);
      // No END after this BEGIN means none after any later BEGIN either: done.
      if (endAt < 0) return;
      closed = labelAt(text, endAt + END.length);
      search = endAt + 1;
    }
    yield { label: opened.label, body: text.slice(opened.end, endAt), endLabel: closed.label };
    pos = closed.end;
  }
}

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
  for (const { label, body, endLabel } of scanBlocks(text)) {
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
