import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../../shared/errors';
import { decryptFile, decryptStream, encryptFile } from '../../shared/recording';
import { readBerHeader } from '../../shared/recording/ber';
import { type KeyPair, listDir, makeKeyPair, opensslEncrypt, tempDir, writeSeededFile } from './helpers';

type Code = 'NOT_CMS' | 'NO_MATCHING_KEY' | 'INTEGRITY_CHECK_FAILED';
const CODES: Code[] = ['NOT_CMS', 'NO_MATCHING_KEY', 'INTEGRITY_CHECK_FAILED'];

/** One TLV of a parsed message: `path` is the child indexes from the root. */
interface Node {
  path: string;
  start: number;
  valueStart: number;
  end: number;
}

/** Walks a BER message (definite or indefinite) and lists every element. */
function walkFrom(buf: Buffer, offset: number, nodePath: string, out: Node[]): number {
  const h = readBerHeader(buf, offset)!;
  const valueStart = offset + h.headerLength;
  let end: number;
  if (!h.constructed) {
    end = valueStart + h.length!;
  } else {
    let p = valueStart;
    let i = 0;
    const limit = h.length === undefined ? Number.POSITIVE_INFINITY : valueStart + h.length;
    while (p < limit) {
      if (h.length === undefined && buf[p] === 0 && buf[p + 1] === 0) {
        p += 2;
        break;
      }
      p = walkFrom(buf, p, `${nodePath}.${i++}`, out);
    }
    end = p;
  }
  out.push({ path: nodePath, start: offset, valueStart, end });
  return end;
}

function walk(buf: Buffer): Node[] {
  const out: Node[] = [];
  walkFrom(buf, 0, 'r', out);
  return out;
}

function find(nodes: Node[], nodePath: string): Node {
  const node = nodes.find((n) => n.path === nodePath);
  if (!node) throw new Error(`no node ${nodePath}`);
  return node;
}

// Paths in ContentInfo → [0] → AuthEnvelopedData (r.1.0)
const AED = 'r.1.0';
const REGIONS: Array<{ name: string; path: string; code: Code }> = [
  { name: 'content type', path: 'r.0', code: 'NOT_CMS' },
  { name: 'recipient issuer', path: `${AED}.1.0.1.0`, code: 'NO_MATCHING_KEY' },
  { name: 'recipient serial', path: `${AED}.1.0.1.1`, code: 'NO_MATCHING_KEY' },
  { name: 'key transport algorithm', path: `${AED}.1.0.2.0`, code: 'NOT_CMS' },
  { name: 'wrapped key', path: `${AED}.1.0.3`, code: 'NO_MATCHING_KEY' },
  { name: 'content encryption algorithm', path: `${AED}.2.1.0`, code: 'NOT_CMS' },
  { name: 'GCM nonce (IV)', path: `${AED}.2.1.1.0`, code: 'INTEGRITY_CHECK_FAILED' },
  { name: 'encrypted content', path: `${AED}.2.2`, code: 'INTEGRITY_CHECK_FAILED' },
  { name: 'authentication tag', path: `${AED}.3`, code: 'INTEGRITY_CHECK_FAILED' },
];

let dir: string;
let outDir: string;
let alice: KeyPair;
const messages: Record<string, Buffer> = {};

beforeAll(async () => {
  dir = await tempDir('tamper');
  outDir = path.join(dir, 'out');
  await fs.mkdir(outDir);
  alice = await makeKeyPair(dir, 'alice');
  const plain = path.join(dir, 'rec.wav');
  await writeSeededFile(plain, 9000, 'tamper');
  await opensslEncrypt(plain, path.join(dir, 'ossl.cms'), [alice]);
  await opensslEncrypt(plain, path.join(dir, 'ossl-stream.cms'), [alice], { stream: true });
  await encryptFile(plain, path.join(dir, 'ours.cms'), [alice.certPem]);
  for (const name of ['ossl', 'ossl-stream', 'ours'])
    messages[name] = await fs.readFile(path.join(dir, `${name}.cms`));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Decrypts `bytes` to a file; returns the error code, or 'OK'. Asserts no output is left on failure. */
async function attempt(bytes: Buffer): Promise<Code | 'OK'> {
  const input = path.join(dir, 'attempt.cms');
  await fs.writeFile(input, bytes);
  const out = path.join(outDir, 'rec.wav');
  try {
    await decryptFile(input, out, alice.unwrapper);
    await fs.rm(out);
    return 'OK';
  } catch (error) {
    expect(await listDir(outDir)).toEqual([]);
    if (!(error instanceof AppError)) throw error;
    return error.code as Code;
  }
}

function flip(buf: Buffer, offset: number, mask: number): Buffer {
  const copy = Buffer.from(buf);
  copy[offset]! ^= mask;
  return copy;
}

describe.each(['ossl', 'ossl-stream', 'ours'])('decrypting a tampered recording (%s)', (name) => {
  it('opens the untouched message', async () => {
    expect(await attempt(messages[name]!)).toBe('OK');
  });

  it.each(REGIONS)('answers $code when the $name is changed', async ({ path: nodePath, code }) => {
    const msg = messages[name]!;
    const node = find(walk(msg), nodePath);
    const length = node.end - node.valueStart;
    const step = Math.max(1, Math.floor(length / 24));
    for (let offset = node.valueStart; offset < node.end; offset += step) {
      expect({ offset, code: await attempt(flip(msg, offset, 0x01)) }).toEqual({ offset, code });
    }
  });

  it('fails with a documented code whatever single byte is changed', async () => {
    const msg = messages[name]!;
    const content = find(walk(msg), `${AED}.2.2`);
    for (let offset = 0; offset < msg.length; offset++) {
      // Content bytes are covered above; every structural byte is tried here.
      if (offset >= content.valueStart + 40 && offset < content.end - 40) continue;
      for (const mask of [0x01, 0x80]) {
        const code = await attempt(flip(msg, offset, mask));
        expect({ offset, mask, code, ok: CODES.includes(code as Code) }).toEqual({
          offset,
          mask,
          code,
          ok: true,
        });
      }
    }
  });

  it('answers INTEGRITY_CHECK_FAILED (or NOT_CMS before the content type) when truncated', async () => {
    const msg = messages[name]!;
    const nodes = walk(msg);
    const typeEnd = find(nodes, 'r.0').end;
    const content = find(nodes, `${AED}.2.2`);
    const offsets = new Set<number>();
    for (let o = 0; o < content.valueStart + 8; o++) offsets.add(o);
    for (let o = content.valueStart; o < msg.length; o += 97) offsets.add(o);
    for (let o = Math.max(0, msg.length - 48); o < msg.length; o++) offsets.add(o);
    for (const length of offsets) {
      const expected = length < typeEnd ? 'NOT_CMS' : 'INTEGRITY_CHECK_FAILED';
      expect({ length, code: await attempt(msg.subarray(0, length)) }).toEqual({ length, code: expected });
    }
  });

  it('answers INTEGRITY_CHECK_FAILED when data follows the message', async () => {
    const msg = messages[name]!;
    for (const extra of [Buffer.from([0]), Buffer.from([0, 0]), Buffer.alloc(100, 0x41)]) {
      expect(await attempt(Buffer.concat([msg, extra]))).toBe('INTEGRITY_CHECK_FAILED');
    }
  });

  it('decrypts the same bytes whatever size the input chunks are', async () => {
    const msg = messages[name]!;
    const expected = await collect(Readable.from([msg]));
    for (const size of [1, 2, 3, 5, 7, 8, 13, 100, 4099]) {
      const chunks: Buffer[] = [];
      for (let o = 0; o < msg.length; o += size) chunks.push(msg.subarray(o, o + size));
      expect((await collect(Readable.from(chunks))).equals(expected)).toBe(true);
    }
  });
});

async function collect(input: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  const { plaintext, completed } = decryptStream(input, alice.unwrapper, { certificates: [alice.certPem] });
  await pipeline(
    plaintext,
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        parts.push(chunk);
        cb();
      },
    }),
  );
  await completed;
  return Buffer.concat(parts);
}

describe('decrypting hostile structures', () => {
  it('refuses a header that claims more than 1 MiB with NOT_CMS without reading it all', async () => {
    const msg = messages.ours!;
    const nodes = walk(msg);
    const set = find(nodes, `${AED}.1`);
    // Rewrite the recipientInfos SET length to 5 MiB (0x83 50 00 00) ahead of real bytes.
    const forged = Buffer.concat([
      msg.subarray(0, set.start),
      Buffer.from([0x31, 0x83, 0x50, 0x00, 0x00]),
      Buffer.alloc(2 * 1024 * 1024, 0x30),
    ]);
    await expect(collect(Readable.from([forged]))).rejects.toMatchObject({ code: 'NOT_CMS' });
  });

  it('refuses lengths beyond 2^48 and multi-byte tags with NOT_CMS', async () => {
    for (const bytes of [
      Buffer.from([0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
      Buffer.from([0x3f, 0x81, 0x01, 0x00]),
      Buffer.from([0x30, 0x80, 0x06, 0x80]),
    ]) {
      await expect(collect(Readable.from([bytes]))).rejects.toMatchObject({ code: 'NOT_CMS' });
    }
  });

  it('refuses content nested too deeply with INTEGRITY_CHECK_FAILED', async () => {
    const msg = messages['ossl-stream']!;
    const content = find(walk(msg), `${AED}.2.2`);
    const deep = Buffer.concat([
      msg.subarray(0, content.valueStart),
      Buffer.alloc(40, 0).map((_, i) => (i % 2 === 0 ? 0x24 : 0x80)),
      msg.subarray(content.valueStart),
    ]);
    await expect(collect(Readable.from([deep]))).rejects.toMatchObject({ code: 'INTEGRITY_CHECK_FAILED' });
  });

  it('emits nothing as final when the tag fails: the stream errors instead of ending', async () => {
    const msg = messages.ours!;
    const tag = find(walk(msg), `${AED}.3`);
    const { plaintext, completed } = decryptStream(
      Readable.from([flip(msg, tag.valueStart, 0xff)]),
      alice.unwrapper,
    );
    let ended = false;
    plaintext.on('end', () => {
      ended = true;
    });
    await expect(
      pipeline(
        plaintext,
        new Writable({
          write(_c, _e, cb) {
            cb();
          },
        }),
      ),
    ).rejects.toMatchObject({ code: 'INTEGRITY_CHECK_FAILED' });
    await expect(completed).rejects.toMatchObject({ code: 'INTEGRITY_CHECK_FAILED' });
    expect(ended).toBe(false);
  });
});
