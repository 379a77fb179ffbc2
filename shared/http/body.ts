/** Request bodies: JSON or multipart/form-data, bounded, parsed the same way on every runtime. */
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { AppError, ValidationError } from '../errors';

/** Upload bodies over this are refused with 413 (DESIGN section 4). */
export const MAX_BODY_BYTES = 64 * 1024;

/** Deeper JSON than this is no body the API takes; refused before anything walks it. */
const MAX_JSON_DEPTH = 32;

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

function tooLarge(limit: number): AppError {
  return new AppError('PAYLOAD_TOO_LARGE', `The request body is over ${limit / 1024} KiB.`, {
    details: { limitBytes: limit },
  });
}

/**
 * Multipart parts (files and fields alike) as UTF-8 strings by name, in a prototype-free object.
 * Every way the body can be wrong settles the promise once with a 4xx: a truncated or malformed
 * body, a part without a name, a name given twice (which one would count is a guess, so neither
 * does), too many parts, or a part over the size limit (413).
 */
function parseMultipart(body: Buffer, contentType: string): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
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
    const parts = new Map<string, Buffer[]>();
    let settled = false;
    const fail = (error: AppError) => {
      if (settled) return;
      settled = true;
      reject(error);
      // Stops parsing; the file stream of an open part is destroyed with it (and has a listener).
      parser.destroy();
    };
    const malformed = (message: string, cause?: unknown) =>
      fail(new ValidationError('VALIDATION_ERROR', message, cause === undefined ? undefined : { cause }));
    const claim = (name: string | undefined): Buffer[] | undefined => {
      if (name === undefined || name === '') {
        malformed(
          'Every part of the multipart body needs a name (Content-Disposition: form-data; name="...").',
        );
        return undefined;
      }
      if (parts.has(name)) {
        malformed(`The multipart body has the part '${name}' more than once; send each part once.`);
        return undefined;
      }
      const chunks: Buffer[] = [];
      parts.set(name, chunks);
      return chunks;
    };
    parser.on('file', (name: string | undefined, stream: Readable) => {
      // Errors of a file stream (a body that ends inside the part) also reach the parser's
      // 'error'; this listener only keeps them from being unhandled.
      stream.on('error', () => undefined);
      const chunks = claim(name);
      if (!chunks) {
        stream.resume();
        return;
      }
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', () => fail(tooLarge(MAX_BODY_BYTES)));
    });
    parser.on('field', (name: string | undefined, value: string, info: { valueTruncated: boolean }) => {
      if (info.valueTruncated) {
        fail(tooLarge(MAX_BODY_BYTES));
        return;
      }
      claim(name)?.push(Buffer.from(value, 'utf8'));
    });
    const tooMany = () => malformed('The multipart body has too many parts.');
    parser.on('partsLimit', tooMany);
    parser.on('filesLimit', tooMany);
    parser.on('fieldsLimit', tooMany);
    parser.on('error', (error: unknown) => malformed('The multipart body is malformed or truncated.', error));
    parser.on('close', () => {
      if (settled) return;
      settled = true;
      const fields: Record<string, string> = Object.create(null) as Record<string, string>;
      for (const [name, chunks] of parts) fields[name] = Buffer.concat(chunks).toString('utf8');
      resolve(fields);
    });
    parser.end(body);
  });
}

/** Whether `text` (JSON) nests arrays and objects deeper than `max`; strings are skipped. */
function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

function parseJson(body: Buffer): Record<string, unknown> {
  const text = body.toString('utf8');
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new ValidationError(
      'VALIDATION_ERROR',
      `The JSON body nests deeper than ${MAX_JSON_DEPTH} levels; no request of this API does.`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ValidationError('VALIDATION_ERROR', 'The body is not valid JSON (malformed or truncated).', {
      cause: error,
    });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError('VALIDATION_ERROR', 'The JSON body must be an object ({...}).');
  }
  return value as Record<string, unknown>;
}

/**
 * Parses a request body. `multipart` routes take multipart/form-data as well as JSON. An empty
 * body is `{}` (every body field the API has is optional or checked by the schema). Whatever the
 * bytes, the result is a plain object or an AppError with a 4xx code.
 */
export async function parseBody(
  body: Buffer,
  contentType: string | undefined,
  multipart: boolean,
): Promise<unknown> {
  if (body.length > MAX_BODY_BYTES) throw tooLarge(MAX_BODY_BYTES);
  const type = mediaType(contentType);
  if (body.length === 0 && type !== 'multipart/form-data') return {};
  if (
    type === 'application/json' ||
    type.endsWith('+json') ||
    (type === '' && body.length > 0 && body[0] === 0x7b)
  ) {
    return parseJson(body);
  }
  if (type === 'multipart/form-data' && multipart) return parseMultipart(body, contentType ?? '');
  throw new AppError(
    'UNSUPPORTED_MEDIA_TYPE',
    `Content-Type '${type || 'none'}' is not accepted here; send application/json${multipart ? ' or multipart/form-data' : ''}.`,
  );
}

/**
 * Reads a streamed body up to `limit` bytes; a larger one (declared or actual) is refused with
 * 413 without reading the rest. A stream that fails or closes before its end (the client went
 * away) is a 400; the caller answers, or closes the connection when no answer can be sent.
 */
export async function readLimited(
  stream: Readable | undefined,
  headers: Record<string, string | undefined>,
  limit: number,
): Promise<Buffer> {
  if (!stream) return Buffer.alloc(0);
  const declared = headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw tooLarge(limit);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (error: AppError | undefined) => {
      if (settled) return;
      settled = true;
      stream.off('data', onData);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks));
    };
    const broken = (cause?: unknown) =>
      settle(
        new ValidationError('VALIDATION_ERROR', 'The request body broke off before its end.', {
          ...(cause === undefined ? {} : { cause }),
        }),
      );
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // The rest is left unread: the runtime answers 413 and closes the connection.
        stream.pause();
        settle(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    stream.on('data', onData);
    stream.once('end', () => settle(undefined));
    stream.once('error', broken);
    stream.once('close', () => broken());
  });
}
