/**
 * The webhook of the expiry notices on AWS (DESIGN section 5), as deploy parameters: the receiver's
 * URL, and the name of the Secrets Manager secret holding the signing key. The secret's value
 * never appears in the template or in an environment variable: the delivery function reads it at
 * cold start (functions/aws/adapters/secrets-extension.ts). With no URL the delivery schedule is
 * created disabled and the scan leaves nothing in the outbox.
 */
import { Aws, CfnCondition, CfnParameter, Fn } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { StackPart } from '../logical-ids';

/** The default secret name (create it before setting the URL: docs/aws.md). */
export const DEFAULT_WEBHOOK_SECRET_NAME = 'reccert/webhook-secret';

/** The webhook parameters and the condition "a webhook is configured". */
export class WebhookParameters extends StackPart {
  /** `RECCERT_WEBHOOK_URL`: https, or empty for none. */
  readonly url: string;
  /** The secret's name (`RECCERT_WEBHOOK_SECRET_ID`). */
  readonly secretName: string;
  /** True when the URL parameter is not empty. */
  readonly enabled: CfnCondition;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const url = new CfnParameter(this, 'WebhookUrl', {
      type: 'String',
      default: '',
      description:
        'HTTPS URL every expiry notice is POSTed to, signed (X-Reccert-Signature); empty: no webhook.',
      allowedPattern: '^(https://[^\\s]+)?$',
      constraintDescription: 'an https:// URL, or empty',
    });
    const secretName = new CfnParameter(this, 'WebhookSigningKeyName', {
      type: 'String',
      default: DEFAULT_WEBHOOK_SECRET_NAME,
      description:
        'Name of the Secrets Manager secret (SecretString, 16 characters or more) the notices are signed with.',
      allowedPattern: '^[A-Za-z0-9/_+=.@-]{1,512}$',
    });
    this.url = url.valueAsString;
    this.secretName = secretName.valueAsString;
    this.enabled = new CfnCondition(this, 'WebhookEnabled', {
      expression: Fn.conditionNot(Fn.conditionEquals(url.valueAsString, '')),
    });
  }

  /**
   * The ARN pattern of the secret: Secrets Manager appends six random characters to a secret's
   * name in its ARN, so `-??????` matches that one secret and no other of a longer name.
   */
  secretArnPattern(): string {
    return `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${this.secretName}-??????`;
  }
}
