/**
 * Sign-in for the admin page (issue 17): a Cognito user pool whose tokens the HTTP API's JWT
 * authorizer trusts, an app client for the page (authorization code + PKCE, public: no secret),
 * the groups `admin`, `decrypt` and `operator`, and the pre token generation trigger (V2_0) that
 * turns groups into the `roles` claim and the `custom:tenant` attribute into `tenant`, in the
 * access token too (functions/aws/handlers/pre-token.ts says why a trigger).
 *
 * People are created by an administrator (no self sign-up), must use a TOTP second factor, and
 * the pool is on the Plus plan with threat protection enforced: these accounts manage the keys
 * that open every recording.
 */
import path from 'node:path';
import { Aws, Duration, Fn, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import {
  AccountRecovery,
  CfnUserPoolGroup,
  ClientAttributes,
  FeaturePlan,
  LambdaVersion,
  ManagedLoginVersion,
  Mfa,
  OAuthScope,
  StandardThreatProtectionMode,
  StringAttribute,
  UserPool,
  type UserPoolClient,
  UserPoolClientIdentityProvider,
  UserPoolOperation,
} from 'aws-cdk-lib/aws-cognito';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { ROLE_GROUPS } from '../../../functions/aws/handlers/pre-token';
import { LAMBDA_ENTRIES } from '../bundling';
import { StackPart } from '../logical-ids';
import { lambdaBundling } from './functions';

/** Where the page lives. */
export interface IdentityProps {
  /**
   * The admin page's addresses (callback and sign-out URLs of its app client): https, or
   * http://localhost for trying it out.
   */
  pageUrls: readonly string[];
  /** The prefix of the Cognito domain that serves the sign-in pages (`<prefix>.auth.<region>.amazoncognito.com`). */
  domainPrefix: string;
  /** Folder of the handler entry files; default `functions/aws/handlers` in this repository. */
  handlersDir?: string | undefined;
}

/** The user pool, the page's app client, the groups and the trigger. */
export class Identity extends StackPart {
  readonly userPool: UserPool;
  readonly client: UserPoolClient;
  /** `iss` of the pool's tokens: https://cognito-idp.<region>.amazonaws.com/<pool id>. */
  readonly issuer: string;
  /** The base URL of the pool's sign-in pages (its /oauth2 and /logout endpoints). */
  readonly domainUrl: string;
  readonly preTokenFunction: NodejsFunction;

  constructor(scope: Construct, id: string, props: IdentityProps) {
    super(scope, id);
    for (const url of props.pageUrls) {
      if (!/^https:\/\/[^\s]+$/.test(url) && !/^http:\/\/localhost(:\d+)?(\/[^\s]*)?$/.test(url)) {
        throw new Error(
          `reccert: adminPageUrls must be https URLs (or http://localhost), not ${JSON.stringify(url)}.`,
        );
      }
    }

    this.userPool = new UserPool(this, 'UserPool', {
      userPoolName: `${Stack.of(this).stackName}-admins`,
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      autoVerify: { email: true },
      customAttributes: { tenant: new StringAttribute({ minLen: 1, maxLen: 512, mutable: true }) },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      mfa: Mfa.REQUIRED,
      mfaSecondFactor: { sms: false, otp: true },
      accountRecovery: AccountRecovery.EMAIL_ONLY,
      featurePlan: FeaturePlan.PLUS,
      standardThreatProtectionMode: StandardThreatProtectionMode.FULL_FUNCTION,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.issuer = `https://cognito-idp.${Aws.REGION}.amazonaws.com/${this.userPool.userPoolId}`;

    for (const role of ROLE_GROUPS) {
      new CfnUserPoolGroup(this, `${role[0]!.toUpperCase()}${role.slice(1)}Group`, {
        userPoolId: this.userPool.userPoolId,
        groupName: role,
        description: `reccert role ${role} (the roles claim of the tokens)`,
      });
    }

    const pageUrls = [...props.pageUrls];
    this.client = this.userPool.addClient('AdminPageClient', {
      userPoolClientName: 'reccert-admin-page',
      generateSecret: false,
      authFlows: { userSrp: true },
      oAuth: {
        flows: { authorizationCodeGrant: true },
        scopes: [OAuthScope.OPENID, OAuthScope.EMAIL, OAuthScope.PROFILE],
        callbackUrls: pageUrls,
        logoutUrls: pageUrls,
      },
      supportedIdentityProviders: [UserPoolClientIdentityProvider.COGNITO],
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      accessTokenValidity: Duration.minutes(60),
      idTokenValidity: Duration.minutes(60),
      refreshTokenValidity: Duration.hours(12),
      // The tenant decides what a person may reach: only an administrator sets it.
      readAttributes: new ClientAttributes()
        .withStandardAttributes({ email: true, emailVerified: true, fullname: true })
        .withCustomAttributes('tenant'),
      writeAttributes: new ClientAttributes().withStandardAttributes({ fullname: true }),
    });

    const domain = this.userPool.addDomain('Domain', {
      cognitoDomain: { domainPrefix: props.domainPrefix },
      managedLoginVersion: ManagedLoginVersion.CLASSIC_HOSTED_UI,
    });
    this.domainUrl = domain.baseUrl();

    this.preTokenFunction = this.trigger(props.handlersDir);
    this.userPool.addTrigger(
      UserPoolOperation.PRE_TOKEN_GENERATION_CONFIG,
      this.preTokenFunction,
      LambdaVersion.V2_0,
    );
  }

  /** The trigger function: bundled as every function is (lambdaBundling), logging to its own group only. */
  private trigger(handlersDir: string | undefined): NodejsFunction {
    const entry = LAMBDA_ENTRIES.find((e) => e.name === 'pre-token')?.entry;
    if (entry === undefined) throw new Error('reccert: no bundling entry for the pre-token function.');
    const logGroup = new LogGroup(this, 'PreTokenLogs', {
      retention: RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const role = new Role(this, 'PreTokenRole', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'reccert pre token generation trigger',
    });
    role.addToPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );
    const fn = new NodejsFunction(this, 'PreTokenFunction', {
      entry:
        handlersDir === undefined
          ? path.resolve(__dirname, '..', '..', '..', entry)
          : path.join(handlersDir, path.basename(entry)),
      handler: 'handler',
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: 256,
      // Cognito gives a trigger 5 s in all.
      timeout: Duration.seconds(5),
      role,
      logGroup,
      loggingFormat: LoggingFormat.JSON,
      environment: { NODE_OPTIONS: '--enable-source-maps' },
      bundling: lambdaBundling(),
    });
    // AwsSolutions-L1: the design fixes Node.js 20 or 22 (the version the code is tested on).
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'Node.js 22 is the newest runtime the code is tested on (DESIGN: Node.js 20 or 22).',
    });
    return fn;
  }
}

/** The default Cognito domain prefix: unique per account (Cognito domains are global per region). */
export function defaultDomainPrefix(scope: Construct): string {
  return Fn.join('-', ['reccert', Stack.of(scope).account]);
}
