/**
 * Blob access for the recording jobs (handlers/recording-jobs.ts): one pinned version of a
 * recording read by ranged downloads, and server-side copies of its ranges into the blocks of a
 * new blob (`Put Block From URL`).
 *
 * The copy source is authorized with the caller's own access: a bearer token of the Function
 * App's managed identity (`x-ms-copy-source-authorization`; the identity needs read on the
 * source, which Storage Blob Data Contributor gives), or, with a shared-key connection string
 * (emulators only), a read-only service SAS of one hour. No account key is ever needed in Azure.
 *
 * Azurite (3.35) does not implement Put Block From URL (it answers 500 `APINotImplemented`):
 * then the range is downloaded and staged with `Put Block` instead, so the media passes through
 * the function. `RangeStager` switches once and reports it, for the job's log.
 */
import type { TokenCredential } from '@azure/identity';
import {
  type BlobClient,
  BlobSASPermissions,
  type BlockBlobClient,
  type HttpAuthorization,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { UnavailableError } from '../../../shared/errors';
import type { RangedSource } from '../../../shared/usecases/ranged-rewrap';
import { statusOf } from './azure-errors';

/** The OAuth scope of Azure Storage. */
const STORAGE_SCOPE = 'https://storage.azure.com/.default';
/** A SAS lives this long: one blob's copy, with a wide margin for a slow service. */
const SAS_LIFETIME_MS = 60 * 60 * 1000;

/** One version of one blob, read by ranged downloads (pinned by version id, else by ETag). */
export class PinnedBlob implements RangedSource {
  constructor(
    /** The client of the version read (with `versionid` when the account keeps versions). */
    readonly client: BlobClient,
    readonly etag: string | undefined,
    readonly versionId: string | undefined,
    readonly size: number,
  ) {}

  /** Bytes [start, end); a blob that changed meanwhile fails with 412 (retried by the queue). */
  async read(start: number, end: number): Promise<Buffer> {
    if (end <= start) return Buffer.alloc(0);
    const conditions = this.versionId === undefined && this.etag ? { ifMatch: this.etag } : {};
    const out = await this.client.download(start, end - start, { conditions });
    const chunks: Buffer[] = [];
    for await (const chunk of out.readableStreamBody ?? []) chunks.push(Buffer.from(chunk as Uint8Array));
    const bytes = Buffer.concat(chunks);
    if (bytes.length !== end - start) {
      throw new UnavailableError('The blob changed while it was read; the retry reads it anew.');
    }
    return bytes;
  }
}

/** How `Put Block From URL` reaches the source: its URL and, with an identity, a bearer token. */
export interface CopySource {
  url: string;
  authorization?: HttpAuthorization;
}

/**
 * The copy source for `blob`: a one-hour read SAS when the client holds a shared key (emulators),
 * else the blob's URL with a managed-identity token.
 */
export async function copySourceOf(blob: BlobClient, credential?: TokenCredential): Promise<CopySource> {
  if (blob.credential instanceof StorageSharedKeyCredential) {
    const url = await blob.generateSasUrl({
      permissions: BlobSASPermissions.parse('r'),
      expiresOn: new Date(Date.now() + SAS_LIFETIME_MS),
    });
    return { url };
  }
  if (!credential) throw new Error('A copy source needs a shared key or a token credential.');
  const token = await credential.getToken(STORAGE_SCOPE);
  if (!token) throw new UnavailableError('No token for Azure Storage; retry shortly.');
  return { url: blob.url, authorization: { scheme: 'Bearer', value: token.token } };
}

/** Whether the service said it does not implement the API (Azurite's answer to Put Block From URL). */
export function isNotImplemented(error: unknown): boolean {
  const code = (error as { code?: unknown; details?: { errorCode?: unknown } } | null) ?? {};
  const named = code.code === 'APINotImplemented' || code.details?.errorCode === 'APINotImplemented';
  const status = statusOf(error);
  return named || status === 501;
}

/**
 * Stages ranges of a source blob as blocks: server-side (`Put Block From URL`) while the service
 * does it, by download and `Put Block` once it said it does not implement that API.
 */
export class RangeStager {
  private serverSide = true;

  constructor(private readonly onFallback: () => void = () => undefined) {}

  /** Whether every range so far was copied by the service. */
  get copiedServerSide(): boolean {
    return this.serverSide;
  }

  /** Stages bytes [start, end) of `source` as block `blockId` of `target`. */
  async stage(
    target: BlockBlobClient,
    blockId: string,
    source: PinnedBlob,
    copySource: CopySource,
    start: number,
    end: number,
  ): Promise<void> {
    if (this.serverSide) {
      try {
        await target.stageBlockFromURL(blockId, copySource.url, start, end - start, {
          ...(copySource.authorization ? { sourceAuthorization: copySource.authorization } : {}),
        });
        return;
      } catch (error) {
        if (!isNotImplemented(error)) throw error;
        this.serverSide = false;
        this.onFallback();
      }
    }
    const bytes = await source.read(start, end);
    await target.stageBlock(blockId, bytes, bytes.length);
  }
}
