import { PassThrough, Readable } from 'node:stream';
import { AppError } from '../../shared/errors';
import { MAX_BODY_BYTES, parseBody, readLimited } from '../../shared/http/body';
import { UploadBody } from '../../shared/http/schemas';
import { makePair } from '../helpers/pki';

/** A multipart upload body exactly as fetch (undici) sends it. */
async function multipartUpload(
  parts: Record<string, string>,
): Promise<{ body: Buffer; contentType: string }> {
  const form = new FormData();
  for (const [name, value] of Object.entries(parts)) {
    if (name === 'privateKeyPassword') form.append(name, value);
    else form.append(name, new Blob([value], { type: 'application/x-pem-file' }), `${name}.pem`);
  }
  const request = new Request('http://127.0.0.1/', { method: 'POST', body: form });
  return {
    body: Buffer.from(await request.arrayBuffer()),
    contentType: request.headers.get('content-type') ?? '',
  };
}

/** What parseBody settles with: 'ok' or the AppError's code; anything else is returned as is. */
async function outcome(body: Buffer, contentType: string): Promise<string> {
  try {
    await parseBody(body, contentType, true);
    return 'ok';
  } catch (error) {
    return error instanceof AppError ? error.code : `not an AppError: ${String(error)}`;
  }
}

function multipart(...parts: string[]): Buffer {
  return Buffer.from(`${parts.map((p) => `--X\r\n${p}\r\n`).join('')}--X--\r\n`);
}
const MULTIPART_X = 'multipart/form-data; boundary=X';

describe('parseBody (multipart)', () => {
  it('regression #1: answers the truncated body of the security test with VALIDATION_ERROR', async () => {
    const body = Buffer.from(
      '--X\r\nContent-Disposition: form-data; name="privateKey"; filename="k"\r\n\r\nabc',
    );

    await expect(parseBody(body, MULTIPART_X, true)).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
  });

  it('regression #1: a valid upload truncated at every byte offset is parsed or refused with a 4xx AppError', async () => {
    const pair = makePair();
    const { body, contentType } = await multipartUpload({
      certificate: pair.certPem,
      privateKey: pair.keyPem,
      privateKeyPassword: 'secret',
    });
    const seen = new Map<string, number>();

    for (let length = 0; length < body.length; length++) {
      const code = await outcome(body.subarray(0, length), contentType);
      seen.set(code, (seen.get(code) ?? 0) + 1);
    }

    // Only the last CRLF after the closing boundary is optional; every shorter body is refused.
    expect(Object.fromEntries(seen)).toEqual({ VALIDATION_ERROR: body.length - 2, ok: 2 });
    expect(await outcome(body, contentType)).toBe('ok');
  });

  it('reads file and text parts as strings into an object without a prototype', async () => {
    const pair = makePair();
    const { body, contentType } = await multipartUpload({
      certificate: pair.certPem,
      privateKeyPassword: 'pw',
    });

    const parsed = await parseBody(body, contentType, true);

    expect(Object.getPrototypeOf(parsed)).toBeNull();
    expect(UploadBody.parse(parsed)).toEqual({ certificate: pair.certPem, privateKeyPassword: 'pw' });
  });

  it('refuses a part without a name, a name given twice and too many parts with VALIDATION_ERROR', async () => {
    const cases = [
      multipart('Content-Disposition: form-data; filename="k"\r\n\r\nabc'),
      multipart('Content-Disposition: form-data; name=""\r\n\r\nabc'),
      multipart(
        'Content-Disposition: form-data; name="certificate"\r\n\r\na',
        'Content-Disposition: form-data; name="certificate"; filename="c"\r\n\r\nb',
      ),
      multipart(
        ...Array.from({ length: 13 }, (_, i) => `Content-Disposition: form-data; name="f${i}"\r\n\r\nx`),
      ),
      multipart(
        ...Array.from(
          { length: 5 },
          (_, i) => `Content-Disposition: form-data; name="f${i}"; filename="f"\r\n\r\nx`,
        ),
      ),
      multipart('Content-Disposition form-data\r\n\r\nabc'),
      Buffer.from('--X\r\nContent-Disposition: form-data; name="a"\r\n'),
      Buffer.alloc(0),
    ];

    const codes = await Promise.all(cases.map((body) => outcome(body, MULTIPART_X)));

    expect(codes).toEqual(cases.map(() => 'VALIDATION_ERROR'));
  });

  it('refuses a multipart content type without a boundary with VALIDATION_ERROR', async () => {
    for (const type of [
      'multipart/form-data',
      'multipart/form-data; boundary=',
      'multipart/form-data; boundary',
    ]) {
      expect(await outcome(multipart('Content-Disposition: form-data; name="a"\r\n\r\nb'), type)).toBe(
        'VALIDATION_ERROR',
      );
    }
  });

  it('refuses a body over 64 KiB with PAYLOAD_TOO_LARGE', async () => {
    const body = multipart(
      `Content-Disposition: form-data; name="certificate"\r\n\r\n${'a'.repeat(MAX_BODY_BYTES)}`,
    );

    expect(await outcome(body, MULTIPART_X)).toBe('PAYLOAD_TOO_LARGE');
  });
});

describe('parseBody (JSON)', () => {
  it('refuses truncated JSON, JSON that is not an object and deeply nested JSON with VALIDATION_ERROR', async () => {
    const valid = JSON.stringify({ certificate: makePair().certPem, privateKeyPassword: 'pw' });
    const bodies = [
      ...Array.from({ length: valid.length - 1 }, (_, i) => valid.slice(0, i + 1)),
      '[]',
      'null',
      '42',
      '"text"',
      `{"a":${'['.repeat(40)}${']'.repeat(40)}}`,
      '['.repeat(MAX_BODY_BYTES - 1),
    ];

    const codes = new Set<string>();
    for (const body of bodies) codes.add(await outcome(Buffer.from(body), 'application/json'));

    expect([...codes]).toEqual(['VALIDATION_ERROR']);
    expect(await outcome(Buffer.from(valid), 'application/json')).toBe('ok');
  });
});

describe('readLimited', () => {
  it('refuses a declared length over the limit with PAYLOAD_TOO_LARGE without reading', async () => {
    const stream = new PassThrough();

    await expect(
      readLimited(stream, { 'content-length': String(MAX_BODY_BYTES + 1) }, MAX_BODY_BYTES),
    ).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(stream.readableFlowing).toBeNull();
  });

  it('refuses a stream that grows past the limit with PAYLOAD_TOO_LARGE', async () => {
    const stream = Readable.from([Buffer.alloc(MAX_BODY_BYTES), Buffer.alloc(1)]);

    await expect(readLimited(stream, {}, MAX_BODY_BYTES)).rejects.toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
    });
  });

  it('answers a stream that fails or closes before its end with VALIDATION_ERROR', async () => {
    const failing = new PassThrough();
    const closing = new PassThrough();
    const reads = [readLimited(failing, {}, MAX_BODY_BYTES), readLimited(closing, {}, MAX_BODY_BYTES)];

    failing.write('{"certificate":');
    failing.destroy(new Error('socket hang up'));
    closing.write('{"certificate":');
    closing.destroy();

    for (const read of reads) await expect(read).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
  });
});
