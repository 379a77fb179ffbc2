import { PemError, parsePemBlocks, toPem } from '../../shared/pki/pem';
import { type ValidationOptions, validateUpload } from '../../shared/pki/validate';
import { FIXED_NOW, makePair } from '../helpers/pki';

const KIB = 1024;

/** `unit` repeated to `bytes` characters. */
function repeatTo(unit: string, bytes: number): string {
  return unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes);
}

/** Milliseconds `parsePemBlocks` takes on `text` (the best of three, to keep GC noise out), whatever it throws. */
function timeParse(text: string): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    try {
      parsePemBlocks(text);
    } catch (error) {
      if (!(error instanceof PemError)) throw error;
    }
    best = Math.min(best, performance.now() - started);
  }
  return best;
}

const SHAPES: Array<[string, string]> = [
  ['repeated BEGIN lines', '-----BEGIN A-----'],
  ['repeated BEGIN lines with newlines', '-----BEGIN CERTIFICATE-----\n'],
  ['unterminated BEGIN lines (label too long)', `-----BEGIN ${'A'.repeat(60)}\n`],
  ['BEGIN lines without dashes', '-----BEGIN A\n'],
  ['END lines without a BEGIN', '-----END A-----\n'],
  ['many short blocks', '-----BEGIN A-----\nQUFB\n-----END A-----\n'],
  ['blocks with mismatched or malformed ENDs', '-----BEGIN A-----\n-----END a-----\n-----END '],
];

describe('parsePemBlocks', () => {
  it('regression #10: parses a 64 KiB body of repeated -----BEGIN A----- in milliseconds', () => {
    // The BEGIN...END regex backtracked: 1.1 s for this body on the machine of the security test.
    const body = repeatTo('-----BEGIN A-----', 64 * KIB);

    const ms = timeParse(body);

    expect(parsePemBlocks(body)).toEqual([]);
    expect(ms).toBeLessThan(500);
  });

  it.each(SHAPES)('stays linear for %s (64 KiB vs 16 KiB)', (_name, unit) => {
    const small = timeParse(repeatTo(unit, 16 * KIB));
    const large = timeParse(repeatTo(unit, 64 * KIB));

    // Linear: 4x the input, about 4x the time; quadratic would be 16x. Sub-millisecond runs are noise.
    expect(large).toBeLessThan(500);
    expect(large).toBeLessThan(Math.max(small * 8, 150));
  });

  it('parses a long base64 body without END as no block, quickly', () => {
    const text = `-----BEGIN CERTIFICATE-----\n${repeatTo('QUFB', 64 * KIB)}`;

    expect(timeParse(text)).toBeLessThan(500);
    expect(parsePemBlocks(text)).toEqual([]);
  });

  it('still pairs each BEGIN with the first END, and keeps headers and text around blocks', () => {
    const der = Buffer.from('hello pem');
    const text = `Bag Attributes\n${toPem('A', der)}junk -----BEGIN\n-----BEGIN B-----\nProc-Type: 4,ENCRYPTED\n\n${der.toString('base64')}\n-----END B-----\n`;

    const blocks = parsePemBlocks(text);

    expect(blocks.map((b) => [b.label, b.der.toString(), b.headers])).toEqual([
      ['A', 'hello pem', {}],
      ['B', 'hello pem', { 'Proc-Type': '4,ENCRYPTED' }],
    ]);
    expect(() => parsePemBlocks('-----BEGIN A-----\nQUFB\n-----END B-----')).toThrow(PemError);
  });

  it('answers an upload of 64 KiB of BEGIN lines with INVALID_PEM in milliseconds', () => {
    const options: ValidationOptions = { flow: 'aws', now: FIXED_NOW, requirePrivateKey: true };
    const body = repeatTo('-----BEGIN A-----', 64 * KIB);
    const { keyPem } = makePair();

    const started = performance.now();
    let code: string | undefined;
    try {
      validateUpload({ certificate: body, privateKey: keyPem }, options);
    } catch (error) {
      code = (error as { code?: string }).code;
    }

    expect(code).toBe('INVALID_PEM');
    expect(performance.now() - started).toBeLessThan(500);
  });
});
