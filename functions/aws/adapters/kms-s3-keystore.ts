/**
 * `KeyCustody` for the AWS flow: each private key is sealed in process with AES-256-GCM under a
 * fresh KMS data key whose encryption context binds tenant and certificate, and the sealed object
 * is written create-only to S3 at `tenants/<tenantId>/keys/<keyRef>` (SSE-KMS on top).
 *
 * Object body (JSON): format version, the KMS-encrypted data key, IV, GCM tag and ciphertext. The
 * GCM AAD repeats tenant, certificate and keyRef, so an object copied to another tenant or
 * certificate fails twice over: KMS refuses the data key (wrong context) and GCM the ciphertext.
 *
 * The plaintext data key and the key DER live only in memory for one call and are zeroed after
 * use; nothing here logs, and no error message carries key bytes.
 */
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  assertKeyRefOf,
  assertSafeName,
  gcmOpen,
  gcmSeal,
  importCustodyKey,
  newKeyRef,
  noKeyHeld,
  SEALED_KEY_VERSION,
  sealedKeyAad,
  storedKeyOf,
  unopenableKey,
  unwrapWithOpenedKey,
} from '../../../shared/custody/sealed-key';
import type { AppError } from '../../../shared/errors';
import type { KeyCustody, KeyReference, StoredKey } from '../../../shared/ports';
import { callAws, errorName } from './aws-errors';

/** Configuration of {@link KmsS3Keystore}, read once at cold start. */
export interface KmsS3KeystoreConfig {
  bucketName: string;
  /** The symmetric KMS key (id, ARN or alias) for data keys and SSE-KMS. */
  kmsKeyId: string;
}

interface SealedObject {
  v: number;
  alg: 'AES-256-GCM';
  tenantId: string;
  certificateId: string;
  /** The data key as KMS encrypted it (base64). */
  dataKey: string;
  iv: string;
  tag: string;
  ciphertext: string;
}

/** The S3 object key of a stored private key. */
export function keyObjectKey(tenantId: string, keyRef: string): string {
  return `tenants/${tenantId}/keys/${keyRef}`;
}

/**
 * Makes a PutObject create-only on the wire, whatever the S3 client's version: after the SDK has
 * serialized the request (and before it is signed and sent), the `If-None-Match: *` header is
 * set on the HTTP request itself. The Lambda functions use the AWS SDK of the Node.js runtime
 * (infra/aws/bundling.ts); an SDK older than S3 conditional writes (August 2024) would drop the
 * `IfNoneMatch` parameter silently and turn create-only into overwrite. The middleware stack
 * and the lower-case header map are SDK v3 interfaces since its first release, so this holds on
 * any v3 runtime; on a current SDK it changes nothing.
 */
export function createOnly(command: PutObjectCommand): PutObjectCommand {
  command.middlewareStack.add(
    (next) => async (args) => {
      const headers = (args.request as { headers?: Record<string, string> } | undefined)?.headers;
      // No HTTP request to guard: refuse rather than risk an unconditional write.
      if (headers === undefined) throw new Error('reccert: cannot make the key write create-only.');
      for (const name of Object.keys(headers)) {
        if (name.toLowerCase() === 'if-none-match') delete headers[name];
      }
      headers['if-none-match'] = '*';
      return next(args);
    },
    { step: 'build', name: 'reccertCreateOnly' },
  );
  return command;
}

/** `KeyCustody` on KMS data keys and S3; clients are passed in, the config read once. */
export class KmsS3Keystore implements KeyCustody {
  private readonly bucket: string;
  private readonly kmsKeyId: string;

  constructor(
    private readonly kms: KMSClient,
    private readonly s3: S3Client,
    config: KmsS3KeystoreConfig,
  ) {
    this.bucket = config.bucketName;
    this.kmsKeyId = config.kmsKeyId;
  }

  async store(ref: KeyReference, pkcs8Der: Buffer, _certificatePem: string): Promise<{ keyRef: string }> {
    assertSafeName('tenantId', ref.tenantId);
    assertSafeName('certificateId', ref.certificateId);
    importCustodyKey(pkcs8Der);
    const keyRef = newKeyRef(ref.certificateId);
    const generated = await callAws('Key custody (KMS)', () =>
      this.kms.send(
        new GenerateDataKeyCommand({
          KeyId: this.kmsKeyId,
          KeySpec: 'AES_256',
          EncryptionContext: encryptionContext(ref),
        }),
      ),
    );
    if (generated.Plaintext === undefined || generated.CiphertextBlob === undefined) {
      throw new Error('KMS GenerateDataKey returned no data key.');
    }
    const dataKey = Buffer.from(generated.Plaintext);
    let body: string;
    try {
      body = JSON.stringify(seal(dataKey, ref, keyRef, pkcs8Der, Buffer.from(generated.CiphertextBlob)));
    } finally {
      dataKey.fill(0);
      generated.Plaintext.fill(0);
    }
    await callAws('Key custody (S3)', () =>
      this.s3.send(
        createOnly(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: keyObjectKey(ref.tenantId, keyRef),
            Body: body,
            ContentType: 'application/json',
            // Create-only: S3 refuses the write (412) if an object already has this key.
            IfNoneMatch: '*',
            ServerSideEncryption: 'aws:kms',
            SSEKMSKeyId: this.kmsKeyId,
          }),
        ),
      ),
    );
    return { keyRef };
  }

  async remove(ref: KeyReference, keyRef: string): Promise<void> {
    assertSafeName('tenantId', ref.tenantId);
    assertSafeName('keyRef', keyRef);
    // S3 answers 204 for a missing key too, so removing twice is not an error.
    await callAws('Key custody (S3)', () =>
      this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: keyObjectKey(ref.tenantId, keyRef) })),
    );
  }

  /** Every stored key object, page by page; `storedAt` is its LastModified. */
  async *listKeys(): AsyncIterable<StoredKey> {
    let token: string | undefined;
    do {
      const page = await callAws('Key custody (S3)', () =>
        this.s3.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: 'tenants/', ContinuationToken: token }),
        ),
      );
      for (const object of page.Contents ?? []) {
        const match = /^tenants\/([^/]+)\/keys\/([^/]+)$/.exec(object.Key ?? '');
        if (!match) continue;
        const [, tenantId, keyRef] = match as unknown as [string, string, string];
        const key = storedKeyOf(tenantId, keyRef);
        if (key === undefined) continue;
        yield { ...key, ...(object.LastModified ? { storedAt: object.LastModified } : {}) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async unwrapKey(ref: KeyReference, keyRef: string, wrappedKey: Buffer): Promise<Buffer> {
    return unwrapWithOpenedKey(await this.exportKey(ref, keyRef), ref.certificateId, wrappedKey);
  }

  /** The opened key, for the core to seal to the tenant's escrow certificate at once. */
  async exportKey(ref: KeyReference, keyRef: string): Promise<Buffer> {
    assertKeyRefOf(ref, keyRef);
    const sealed = await this.readSealed(ref, keyRef);
    return this.open(ref, keyRef, sealed);
  }

  private async readSealed(ref: KeyReference, keyRef: string): Promise<SealedObject> {
    let text: string;
    try {
      const out = await callAws('Key custody (S3)', () =>
        this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: keyObjectKey(ref.tenantId, keyRef) })),
      );
      text = (await out.Body?.transformToString('utf8')) ?? '';
    } catch (error) {
      if (errorName(error) === 'NoSuchKey') throw noKeyHeld(ref.certificateId);
      throw error;
    }
    try {
      const parsed = JSON.parse(text) as SealedObject;
      if (parsed.v !== SEALED_KEY_VERSION || parsed.alg !== 'AES-256-GCM') throw new Error('unknown format');
      return parsed;
    } catch {
      throw unusable(ref);
    }
  }

  private async open(ref: KeyReference, keyRef: string, sealed: SealedObject): Promise<Buffer> {
    let dataKey: Buffer;
    try {
      const out = await callAws('Key custody (KMS)', () =>
        this.kms.send(
          new DecryptCommand({
            KeyId: this.kmsKeyId,
            CiphertextBlob: Buffer.from(sealed.dataKey, 'base64'),
            // Must be the context it was sealed with: a key moved to another tenant stays shut.
            EncryptionContext: encryptionContext(ref),
          }),
        ),
      );
      if (out.Plaintext === undefined) throw unusable(ref);
      dataKey = Buffer.from(out.Plaintext);
      out.Plaintext.fill(0);
    } catch (error) {
      if (errorName(error) === 'InvalidCiphertextException' || errorName(error) === 'IncorrectKeyException') {
        throw unusable(ref);
      }
      throw error;
    }
    let opened: Buffer | undefined;
    try {
      opened = gcmOpen(dataKey, sealedKeyAad(ref.tenantId, ref.certificateId, keyRef), {
        iv: Buffer.from(sealed.iv, 'base64'),
        ciphertext: Buffer.from(sealed.ciphertext, 'base64'),
        tag: Buffer.from(sealed.tag, 'base64'),
      });
    } catch {
      // A field that is not a string (a damaged object).
      opened = undefined;
    } finally {
      dataKey.fill(0);
    }
    if (opened === undefined) throw unusable(ref);
    return opened;
  }
}

function encryptionContext(ref: KeyReference): Record<string, string> {
  return { tenantId: ref.tenantId, certificateId: ref.certificateId };
}

function seal(
  dataKey: Buffer,
  ref: KeyReference,
  keyRef: string,
  plaintext: Buffer,
  encryptedDataKey: Buffer,
): SealedObject {
  const { iv, ciphertext, tag } = gcmSeal(
    dataKey,
    sealedKeyAad(ref.tenantId, ref.certificateId, keyRef),
    plaintext,
  );
  return {
    v: SEALED_KEY_VERSION,
    alg: 'AES-256-GCM',
    tenantId: ref.tenantId,
    certificateId: ref.certificateId,
    dataKey: encryptedDataKey.toString('base64'),
    iv: iv.toString('base64'),
    tag: tag.toString('base64'),
    ciphertext: ciphertext.toString('base64'),
  };
}

function unusable(ref: KeyReference): AppError {
  return unopenableKey(ref.certificateId, 'damaged, or moved from another tenant or certificate');
}
