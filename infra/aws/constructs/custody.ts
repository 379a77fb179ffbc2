/**
 * Key custody on AWS: the customer-managed KMS key that seals tenant private keys (KMS data keys
 * bound to tenant and certificate, and SSE-KMS of the key bucket) and the S3 bucket of sealed
 * key objects (functions/aws/adapters/kms-s3-keystore.ts), with its access-log bucket.
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { Key } from 'aws-cdk-lib/aws-kms';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { StackPart } from '../logical-ids';

/** Key objects live under this prefix per tenant (functions/aws/adapters/kms-s3-keystore.ts). */
export const KEY_OBJECTS = 'tenants/*/keys/*';

/** The keystore key and the key bucket. */
export class Custody extends StackPart {
  /** Seals tenant private keys; nothing else uses it. */
  readonly keystoreKey: Key;
  /** Sealed key objects under {@link KEY_OBJECTS}. */
  readonly keyBucket: Bucket;
  /** Server access logs of the key bucket (and of the admin page's bucket). */
  readonly accessLogs: Bucket;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    this.keystoreKey = new Key(this, 'KeystoreKey', {
      description: 'reccert: seals tenant private keys (KMS data keys bound to tenant and certificate)',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const accessLogs = new Bucket(this, 'AccessLogsBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ expiration: Duration.days(365), noncurrentVersionExpiration: Duration.days(30) }],
    });
    // AwsSolutions-S1: this bucket receives the key bucket's access logs; logging it into itself
    // would loop, and a second log bucket would only move the finding.
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'It is the server access log destination of the key bucket; it cannot log into itself.',
    });

    this.keyBucket = new Bucket(this, 'KeyBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      encryption: BucketEncryption.KMS,
      encryptionKey: this.keystoreKey,
      bucketKeyEnabled: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'key-bucket/',
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.accessLogs = accessLogs;
  }

  /** The ARN pattern of every tenant's key objects (and nothing else in the bucket). */
  keyObjectsArn(): string {
    return this.keyBucket.arnForObjects(KEY_OBJECTS);
  }
}
