/** Request bodies: JSON or multipart/form-data, bounded, parsed the same way on every runtime. */
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { AppError, ValidationError } from '../errors';

/** Upload bodies over this are refused with 413 (DESIGN section 4). */
export const MAX_BODY_BYTES = 64 * 1024;

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Multipart parts (files and fields alike) as UTF-8 strings by name. */
function parseMultipart(body: Buffer, contentType: string): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const fields: Record<string, string> = {};
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: { 'content-type': contentType },
        limits: { fileSize: MAX_BODY_BYTES, files: 4, fields: 8, parts: 12, fieldSize: MAX_BODY_BYTES },
      });
    } catch (error) {
      reject(
        new ValidationError('VALIDATION_ERROR', 'The multipart body has no valid boundary.', {
          cause: error,
        }),
      );
      return;
    }
    const fail = (message: string, cause?: unknown) =>
      reject(new ValidationError('VALIDATION_ERROR', message, { cause }));
    parser.on('file', (name, stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        fields[name] = Buffer.concat(chunks).toString('utf8');
      });
    });
    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    parser.on('partsLimit', () => fail('The multipart body has too many parts.'));
    parser.on('error', (error) => fail('The multipart body is malformed.', error));
    parser.on('close', () => resolve(fields));
    parser.end(body);
  });
}

/**
 * Parses a request body. `multipart` routes take multipart/form-data as well as JSON. An empty
 * body is `{}` (every body field the API has is optional or checked by the schema).
 */
export async function parseBody(
  body: Buffer,
  contentType: string | undefined,
  multipart: boolean,
): Promise<unknown> {
  if (body.length > MAX_BODY_BYTES) {
    throw new AppError('PAYLOAD_TOO_LARGE', `The request body is over ${MAX_BODY_BYTES / 1024} KiB.`, {
      details: { limitBytes: MAX_BODY_BYTES },
    });
  }
  const type = mediaType(contentType);
  if (body.length === 0 && type !== 'multipart/form-data') return {};
  if (
    type === 'application/json' ||
    type.endsWith('+json') ||
    (type === '' && body.length > 0 && body[0] === 0x7b)
  ) {
    try {
      return JSON.parse(body.toString('utf8')) as unknown;
    } catch (error) {
      throw new ValidationError('VALIDATION_ERROR', 'The body is not valid JSON.', { cause: error });
    }
  }
  if (type === 'multipart/form-data' && multipart) return parseMultipart(body, contentType ?? '');
  throw new AppError(
    'UNSUPPORTED_MEDIA_TYPE',
    `Content-Type '${type || 'none'}' is not accepted here; send application/json${multipart ? ' or multipart/form-data' : ''}.`,
  );
}

/**
 * Reads a streamed body up to `limit` bytes; a larger one (declared or actual) is refused with
 * 413 without reading the rest.
 */
export async function readLimited(
  stream: Readable | undefined,
  headers: Record<string, string | undefined>,
  limit: number,
): Promise<Buffer> {
  if (!stream) return Buffer.alloc(0);
  const tooLarge = () =>
    new AppError('PAYLOAD_TOO_LARGE', `The request body is over ${limit / 1024} KiB.`, {
      details: { limitBytes: limit },
    });
  if (Number(headers['content-length'] ?? '0') > limit) {
    stream.resume();
    throw tooLarge();
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Drain the rest without keeping it, so the connection can still carry the 413.
        stream.off('data', onData);
        stream.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    stream.on('data', onData);
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}
