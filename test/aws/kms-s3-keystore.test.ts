import crypto from 'node:crypto';
import { CreateKeyCommand, DecryptCommand } from '@aws-sdk/client-kms';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { createOnly, KmsS3Keystore, keyObjectKey } from '../../functions/aws/adapters/kms-s3-keystore';
import { AppError, UnavailableError } from '../../shared/errors';
import type { KeyReference } from '../../shared/ports';
import {
  describeCustodyContract,
  listedKeysOf,
  makeKeyMaterial,
  type TestKeyMaterial,
  wrapSessionKey,
} from '../ports/custody-contract';
import { uniqueTenantId } from '../ports/fixtures';
import { motoClients } from './clients';
import { failingAt } from './faults';

const clients = motoClients();
const bucketName = `reccert-keys-${crypto.randomBytes(4).toString('hex')}`;
let ready: Promise<string> | undefined;

/** One versioned bucket and one symmetric KMS key per test file; returns the key id. */
function setup(): Promise<string> {
  ready ??= (async () => {
    await clients.s3.send(new CreateBucketCommand({ Bucket: bucketName }));
    await clients.s3.send(
      new PutBucketVersioningCommand({ Bucket: bucketName, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    const key = await clients.kms.send(new CreateKeyCommand({ Description: 'reccert keystore (test)' }));
    const keyId = key.KeyMetadata?.KeyId;
    if (keyId === undefined) throw new Error('moto created no KMS key');
    return keyId;
  })();
  return ready;
}

describeCustodyContract('S3 + KMS data keys (moto)', async () => {
  const kmsKeyId = await setup();
  return {
    custody: new KmsS3Keystore(clients.kms, clients.s3, { bucketName, kmsKeyId }),
    cleanup: async () => {},
  };
});

describe('KmsS3Keystore on AWS', () => {
  let kmsKeyId: string;
  let keystore: KmsS3Keystore;
  let material: TestKeyMaterial;

  beforeAll(async () => {
    kmsKeyId = await setup();
    keystore = new KmsS3Keystore(clients.kms, clients.s3, { bucketName, kmsKeyId });
    material = makeKeyMaterial('aws-keystore');
  });

  function reference(tenantId = uniqueTenantId()): KeyReference {
    const certificateId = crypto.randomUUID();
    return { tenantId, certificateId, alias: `rec-${certificateId.slice(0, 8)}` };
  }

  async function readObject(key: string): Promise<string> {
    const out = await clients.s3.send(new GetObjectCommand({ Bucket: bucketName, Key: key }));
    return (await out.Body?.transformToString('utf8')) ?? '';
  }

  async function objectsOf(tenantId: string): Promise<string[]> {
    const out = await clients.s3.send(
      new ListObjectsV2Command({ Bucket: bucketName, Prefix: `tenants/${tenantId}/` }),
    );
    return (out.Contents ?? []).map((o) => o.Key ?? '');
  }

  it('stores the sealed key under tenants/<tenant>/keys/<keyRef> without plaintext key bytes', async () => {
    const ref = reference();

    const { keyRef } = await keystore.store(ref, material.pkcs8Der, material.certificatePem);

    const body = await readObject(keyObjectKey(ref.tenantId, keyRef));
    const sealed = JSON.parse(body) as Record<string, unknown>;
    expect(await objectsOf(ref.tenantId)).toEqual([`tenants/${ref.tenantId}/keys/${keyRef}`]);
    expect(keyRef.startsWith(`${ref.certificateId}.`)).toBe(true);
    expect(sealed).toMatchObject({
      v: 1,
      alg: 'AES-256-GCM',
      tenantId: ref.tenantId,
      certificateId: ref.certificateId,
    });
    expect(body).not.toContain(material.pkcs8Der.toString('base64').slice(40, 100));
    expect(body).not.toContain(material.pkcs8Der.toString('hex').slice(80, 200));
  });

  it('binds the data key to tenant and certificate through the KMS encryption context', async () => {
    const ref = reference();
    const { keyRef } = await keystore.store(ref, material.pkcs8Der, material.certificatePem);
    const sealed = JSON.parse(await readObject(keyObjectKey(ref.tenantId, keyRef))) as { dataKey: string };
    const blob = Buffer.from(sealed.dataKey, 'base64');

    const right = await clients.kms.send(
      new DecryptCommand({
        CiphertextBlob: blob,
        EncryptionContext: { tenantId: ref.tenantId, certificateId: ref.certificateId },
      }),
    );

    expect(right.Plaintext?.length).toBe(32);
    await expect(
      clients.kms.send(
        new DecryptCommand({
          CiphertextBlob: blob,
          EncryptionContext: { tenantId: 'another-tenant', certificateId: ref.certificateId },
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
  });

  it('refuses to open a sealed object copied under another tenant', async () => {
    const refA = reference();
    const refB: KeyReference = { ...refA, tenantId: uniqueTenantId('thief') };
    const { keyRef } = await keystore.store(refA, material.pkcs8Der, material.certificatePem);
    await clients.s3.send(
      new CopyObjectCommand({
        Bucket: bucketName,
        CopySource: `${bucketName}/${keyObjectKey(refA.tenantId, keyRef)}`,
        Key: keyObjectKey(refB.tenantId, keyRef),
      }),
    );
    const wrapped = wrapSessionKey(material.publicKey, crypto.randomBytes(32));

    const attempt = keystore.unwrapKey(refB, keyRef, wrapped);

    await expect(attempt).rejects.toBeInstanceOf(AppError);
    await expect(attempt).rejects.toMatchObject({ code: 'INTERNAL_ERROR' });
    expect((await keystore.unwrapKey(refA, keyRef, wrapped)).length).toBe(32);
  });

  it('writes key objects create-only: the bucket refuses to overwrite one', async () => {
    const ref = reference();
    const { keyRef } = await keystore.store(ref, material.pkcs8Der, material.certificatePem);
    const objectKey = keyObjectKey(ref.tenantId, keyRef);
    const before = await readObject(objectKey);

    const overwrite = clients.s3.send(
      new PutObjectCommand({ Bucket: bucketName, Key: objectKey, Body: 'replaced', IfNoneMatch: '*' }),
    );

    await expect(overwrite).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } });
    expect(await readObject(objectKey)).toBe(before);
  });

  it('keeps writes create-only even when the S3 client leaves IfNoneMatch out (an older runtime SDK)', async () => {
    const ref = reference();
    const { keyRef } = await keystore.store(ref, material.pkcs8Der, material.certificatePem);
    const objectKey = keyObjectKey(ref.tenantId, keyRef);
    const before = await readObject(objectKey);
    // What an SDK that does not know IfNoneMatch sends: the same PutObject without the header.
    const unconditional = new PutObjectCommand({ Bucket: bucketName, Key: objectKey, Body: 'replaced' });

    const overwrite = clients.s3.send(createOnly(unconditional));

    await expect(overwrite).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } });
    expect(await readObject(objectKey)).toBe(before);
  });

  it('answers NO_MATCHING_KEY for a keyRef of another certificate', async () => {
    const ref = reference();
    const other = reference(ref.tenantId);
    const { keyRef } = await keystore.store(other, material.pkcs8Der, material.certificatePem);

    await expect(
      keystore.unwrapKey(ref, keyRef, wrapSessionKey(material.publicKey, crypto.randomBytes(32))),
    ).rejects.toMatchObject({ code: 'NO_MATCHING_KEY' });
  });

  it('refuses a keyRef that would leave the tenant prefix', async () => {
    const ref = reference();

    await expect(keystore.remove(ref, '../other/keys/x')).rejects.toMatchObject({ code: 'VALIDATION_ERROR' });
  });

  it('reports KMS throttling on store as UnavailableError and writes no object', async () => {
    const ref = reference();
    const faulty = new KmsS3Keystore(failingAt(clients.kms, 'GenerateDataKeyCommand'), clients.s3, {
      bucketName,
      kmsKeyId,
    });

    await expect(faulty.store(ref, material.pkcs8Der, material.certificatePem)).rejects.toBeInstanceOf(
      UnavailableError,
    );

    expect(await objectsOf(ref.tenantId)).toEqual([]);
  });

  it('reports S3 throttling on store as UnavailableError and leaves no object', async () => {
    const ref = reference();
    const s3 = failingAt(clients.s3, 'PutObjectCommand');
    const faulty = new KmsS3Keystore(clients.kms, s3, { bucketName, kmsKeyId });

    await expect(faulty.store(ref, material.pkcs8Der, material.certificatePem)).rejects.toBeInstanceOf(
      UnavailableError,
    );

    expect(s3.sent).toEqual(['PutObjectCommand']);
    expect(await objectsOf(ref.tenantId)).toEqual([]);
  });

  it('reports KMS throttling on unwrap as UnavailableError, and the key still works afterwards', async () => {
    const ref = reference();
    const { keyRef } = await keystore.store(ref, material.pkcs8Der, material.certificatePem);
    const sessionKey = crypto.randomBytes(32);
    const wrapped = wrapSessionKey(material.publicKey, sessionKey);
    const faulty = new KmsS3Keystore(failingAt(clients.kms, 'DecryptCommand'), clients.s3, {
      bucketName,
      kmsKeyId,
    });

    await expect(faulty.unwrapKey(ref, keyRef, wrapped)).rejects.toBeInstanceOf(UnavailableError);

    expect((await keystore.unwrapKey(ref, keyRef, wrapped)).equals(sessionKey)).toBe(true);
  });

  it('lists only the key objects it stored, skipping foreign objects beside them', async () => {
    const ref = reference();
    const { keyRef } = await keystore.store(ref, material.pkcs8Der, material.certificatePem);
    for (const foreign of [
      `tenants/${ref.tenantId}/keys/notes.txt`,
      `tenants/${ref.tenantId}/keys/${ref.certificateId}.not-a-suffix`,
      `tenants/${ref.tenantId}/keys/.hidden.0123456789abcdef`,
      `tenants/${ref.tenantId}/other/${keyRef}`,
    ]) {
      await clients.s3.send(new PutObjectCommand({ Bucket: bucketName, Key: foreign, Body: 'foreign' }));
    }

    const listed = await listedKeysOf(keystore, ref.tenantId);

    expect(listed.map((k) => k.keyRef)).toEqual([keyRef]);
    expect(await objectsOf(ref.tenantId)).toHaveLength(5);
  });

  it('puts no key bytes in the error of a failed unwrap', async () => {
    const ref = reference();
    const { keyRef } = await keystore.store(ref, material.pkcs8Der, material.certificatePem);

    const error = await keystore.unwrapKey(ref, keyRef, Buffer.alloc(256, 1)).catch((e: unknown) => e);

    const text = JSON.stringify(error, Object.getOwnPropertyNames(error as object));
    expect(error).toMatchObject({ code: 'NO_MATCHING_KEY' });
    expect(text).not.toContain(material.pkcs8Der.toString('base64').slice(40, 100));
  });
});
