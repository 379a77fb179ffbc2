/**
 * The admin page beside the AWS deployment (issue 17, "The page beside each cloud"): the files of
 * web/ in a private S3 bucket, served only through CloudFront with Origin Access Control, under
 * a response headers policy with a strict Content-Security-Policy and HSTS. `config.js` is
 * generated from the stack (the API's URL, and whatever sign-in settings the stack passes), so
 * the page deployed talks to the API deployed with it.
 */
import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import {
  Distribution,
  HeadersFrameOption,
  HeadersReferrerPolicy,
  HttpVersion,
  PriceClass,
  ResponseHeadersPolicy,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { S3BucketOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type CfnBucket,
  type IBucket,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { BucketDeployment, CacheControl, Source } from 'aws-cdk-lib/aws-s3-deployment';
import type { Construct } from 'constructs';
import { webContentSecurityPolicy } from '../../../functions/common/web-csp';
import { generatedConfigJs, WEB_DIR } from '../../web-page';
import { StackPart } from '../logical-ids';

/** What the page is served with. */
export interface HostingProps {
  /** Origins (or URLs) the page may connect to besides its own: the API, the token issuer. */
  connectSources: string[];
  /** Values laid over web/config.js's defaults (`apiBaseUrl`, the sign-in settings). */
  config: Record<string, unknown>;
  /** Receives the bucket's server access logs (under `web-bucket/`). */
  accessLogs: IBucket;
}

/** The bucket, the distribution and the deployment of web/. */
export class Hosting extends StackPart {
  /** The page's files (private: CloudFront reads them through OAC). */
  readonly bucket: Bucket;
  /** Serves the page over HTTPS with the security headers. */
  readonly distribution: Distribution;

  constructor(scope: Construct, id: string, props: HostingProps) {
    super(scope, id);

    this.bucket = new Bucket(this, 'WebBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: true,
      serverAccessLogsBucket: props.accessLogs,
      serverAccessLogsPrefix: 'web-bucket/',
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [{ noncurrentVersionExpiration: Duration.days(30) }],
    });

    const headers = new ResponseHeadersPolicy(this, 'WebHeaders', {
      comment: 'reccert admin page: strict CSP, HSTS, no framing',
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          contentSecurityPolicy: webContentSecurityPolicy(props.connectSources),
          override: true,
        },
        strictTransportSecurity: {
          accessControlMaxAge: Duration.days(730),
          includeSubdomains: true,
          preload: false,
          override: true,
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: HeadersReferrerPolicy.NO_REFERRER, override: true },
      },
    });

    this.distribution = new Distribution(this, 'WebDistribution', {
      comment: 'reccert admin page',
      defaultRootObject: 'index.html',
      httpVersion: HttpVersion.HTTP2_AND_3,
      priceClass: PriceClass.PRICE_CLASS_100,
      defaultBehavior: {
        origin: S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        responseHeadersPolicy: headers,
      },
    });
    // AwsSolutions-CFR1: the page is for the tenants' administrators wherever they are; the API
    // behind it authenticates every call, so a country list would only lock people out.
    // AwsSolutions-CFR2: static files only (no form posts to CloudFront, no server code); the API
    // has its own throttling, and a WAF web ACL can be attached per deployment at extra cost.
    // AwsSolutions-CFR3: the files are public by design (the page holds no data); every API call
    // the page makes is access-logged by API Gateway, and the bucket logs to the access log bucket.
    // AwsSolutions-CFR4: the default *.cloudfront.net certificate; CloudFront then negotiates
    // TLS 1.2+ with current browsers, and a custom domain with a TLS 1.2 policy is set per deployment.
    for (const [rule, reason] of [
      ['AwsSolutions-CFR1', 'Administrators sign in from anywhere; the API authorizes every call.'],
      ['AwsSolutions-CFR2', 'Static, data-free files; the API behind the page throttles and authenticates.'],
      ['AwsSolutions-CFR3', 'The page holds no data; API calls are access-logged by API Gateway.'],
      ['AwsSolutions-CFR4', 'Default CloudFront certificate; a custom domain brings its own TLS 1.2 policy.'],
    ] as const) {
      Validations.of(this.distribution).acknowledge({ id: rule, reason });
    }

    const deployment = new BucketDeployment(this, 'WebDeployment', {
      destinationBucket: this.bucket,
      sources: [
        Source.asset(WEB_DIR, { exclude: ['config.js'] }),
        Source.data('config.js', generatedConfigJs(props.config)),
      ],
      // Short-lived caching instead of invalidations (which need cloudfront:* on every
      // distribution): a new deployment is served within five minutes.
      cacheControl: [CacheControl.maxAge(Duration.minutes(5))],
      memoryLimit: 256,
    });
    // The copy is done by CDK's own deployment function (one per stack, beside the stack's
    // resources), whose role and runtime CDK writes:
    // AwsSolutions-IAM4: it logs with AWSLambdaBasicExecutionRole.
    // AwsSolutions-IAM5: it reads the CDK asset bucket and writes, lists and prunes this bucket's
    // objects (s3:GetObject*, s3:List*, s3:DeleteObject*, s3:Abort* on these two buckets only).
    // AwsSolutions-L1: its Python runtime is the one this CDK version ships and tests.
    const handler = Stack.of(this).node.children.find((c) =>
      c.node.id.startsWith('Custom::CDKBucketDeployment'),
    );
    const findings = [
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      'AwsSolutions-IAM5[Action::s3:GetObject*]',
      'AwsSolutions-IAM5[Action::s3:GetBucket*]',
      'AwsSolutions-IAM5[Action::s3:List*]',
      'AwsSolutions-IAM5[Action::s3:DeleteObject*]',
      'AwsSolutions-IAM5[Action::s3:Abort*]',
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]',
      `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnBucket)}.Arn>/*]`,
      'AwsSolutions-L1',
    ];
    for (const scope of [deployment.handlerRole, ...(handler ? [handler] : [])]) {
      for (const finding of findings) {
        Validations.of(scope).acknowledge({
          id: finding,
          reason:
            "CDK's BucketDeployment function: copies web/ from the asset bucket to the page's bucket only.",
        });
      }
    }
  }
}
