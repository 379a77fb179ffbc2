/**
 * Metadata on AWS: one DynamoDB table (functions/aws/adapters/dynamodb-schema.ts) with the sparse
 * expiry index the scan reads instead of the whole table (DESIGN section 5).
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, Billing, ProjectionType, TableEncryptionV2, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import { StackPart } from '../logical-ids';

/** Name of the sparse expiry index (functions/aws/adapters/dynamodb-repository.ts). */
export const DUE_INDEX = 'due';

/** The table and its expiry index. */
export class Metadata extends StackPart {
  /** Certificates, assignments, notifications, audit and cursors. */
  readonly table: TableV2;

  constructor(scope: Construct, id: string) {
    super(scope, id);

    this.table = new TableV2(this, 'Table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billing: Billing.onDemand(),
      encryption: TableEncryptionV2.awsManagedKey(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
      globalSecondaryIndexes: [
        {
          indexName: DUE_INDEX,
          partitionKey: { name: 'dueShard', type: AttributeType.STRING },
          sortKey: { name: 'dueAt', type: AttributeType.STRING },
          projectionType: ProjectionType.KEYS_ONLY,
        },
      ],
    });
  }

  /** The ARN of the expiry index (IAM grants name it apart from the table). */
  dueIndexArn(): string {
    return `${this.table.tableArn}/index/${DUE_INDEX}`;
  }
}
