/**
 * The HTTP API (DESIGN section 4): API Gateway HTTP API with a JWT authorizer, one route per entry
 * of the shared route table sent to the function of its group, the OpenAPI document, and a
 * `$default` route for everything else; a throttled `$default` stage with JSON access logs.
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  type CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpRoute,
  HttpRouteKey,
  HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { FUNCTION_OF_GROUP, OPENAPI_PATH } from '../../../functions/aws/routing';
import {
  CORS_ALLOWED_HEADERS,
  CORS_EXPOSED_HEADERS,
  CORS_MAX_AGE_SECONDS,
  corsMethods,
} from '../../../shared/http/cors';
import { routes } from '../../../shared/http/routes';
import { StackPart } from '../logical-ids';
import { type FunctionName, pascal } from './functions';

/** The function behind the API's `$default` route (unmatched requests: 404/405 bodies). */
const UNMATCHED_ROUTE_FUNCTION: FunctionName = 'read';

/**
 * The v1 routes (DESIGN section 4) and the function that serves each: every route of the shared
 * route table, sent to the function of its group (functions/aws/routing.ts, which the handlers
 * and `npm run start:aws` use too), plus the OpenAPI document.
 */
const ROUTES: ReadonlyArray<{ method: HttpMethod; path: string; fn: FunctionName; public?: true }> = [
  ...routes.map((r) => ({
    method: r.method as HttpMethod,
    path: r.path,
    fn: FUNCTION_OF_GROUP[r.group],
    ...(r.access === 'public' ? { public: true as const } : {}),
  })),
  { method: HttpMethod.GET, path: OPENAPI_PATH, fn: 'read', public: true },
];

/** What the API fronts and whose tokens it accepts. */
export interface ApiProps {
  functions: Record<FunctionName, NodejsFunction>;
  /** `iss` of the access tokens (an https URL: API Gateway fetches its JWKS). */
  jwtIssuer: string;
  /** `aud` the access tokens must carry. */
  jwtAudience: string;
  /** Origins whose pages may call the API (exact; `RECCERT_CORS_ORIGINS`'s list); none: no CORS. */
  corsOrigins?: readonly string[];
}

/** The HTTP API, its stage and routes. */
export class Api extends StackPart {
  /** The API; its endpoint is the stack's `ApiUrl`. */
  readonly httpApi: HttpApi;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const fns = props.functions;

    const corsOrigins = props.corsOrigins ?? [];
    const api = new HttpApi(this, 'HttpApi', {
      description: 'reccert v1',
      createDefaultStage: false,
      // API Gateway answers preflights (no route, no authorizer) and adds these headers to every
      // integration response, ignoring any the function sets: the functions set none.
      ...(corsOrigins.length > 0
        ? {
            corsPreflight: {
              allowOrigins: [...corsOrigins],
              allowMethods: corsMethods(routes).map((m) => m as CorsHttpMethod),
              allowHeaders: [...CORS_ALLOWED_HEADERS],
              exposeHeaders: [...CORS_EXPOSED_HEADERS],
              maxAge: Duration.seconds(CORS_MAX_AGE_SECONDS),
              // Tokens travel in Authorization, not cookies: no credentials mode needed.
              allowCredentials: false,
            },
          }
        : {}),
    });
    this.httpApi = api;
    const apiLogs = new LogGroup(this, 'HttpApiAccessLogs', {
      retention: RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    new HttpStage(this, 'DefaultStage', {
      httpApi: api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: 50, burstLimit: 100 },
      accessLogSettings: {
        destination: new LogGroupLogDestination(apiLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            method: '$context.httpMethod',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            latencyMs: '$context.integrationLatency',
            subject: '$context.authorizer.claims.sub',
            error: '$context.error.message',
          }),
        ),
      },
    });
    const authorizer = new HttpJwtAuthorizer('JwtAuthorizer', props.jwtIssuer, {
      jwtAudience: [props.jwtAudience],
      identitySource: ['$request.header.Authorization'],
    });
    const integrations = new Map<FunctionName, HttpLambdaIntegration>();
    for (const route of ROUTES) {
      let integration = integrations.get(route.fn);
      if (integration === undefined) {
        integration = new HttpLambdaIntegration(`${pascal(route.fn)}Integration`, fns[route.fn]);
        integrations.set(route.fn, integration);
      }
      const [created] = api.addRoutes({
        path: route.path,
        methods: [route.method],
        integration,
        ...(route.public ? {} : { authorizer }),
      });
      if (route.public && created) {
        // AwsSolutions-APIG4: health and the OpenAPI document are public by contract (DESIGN 4).
        Validations.of(created).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason:
            'Health check and OpenAPI document are unauthenticated by the v1 contract; they expose no tenant data.',
        });
      }
    }

    // Every request no route matches goes to the read function, which answers the contract's own
    // NOT_FOUND / METHOD_NOT_ALLOWED error bodies (functions/aws/http.ts, routeKey '$default')
    // instead of API Gateway's bare {"message":"Not Found"}.
    const readIntegration =
      integrations.get(UNMATCHED_ROUTE_FUNCTION) ??
      new HttpLambdaIntegration(
        `${pascal(UNMATCHED_ROUTE_FUNCTION)}Integration`,
        fns[UNMATCHED_ROUTE_FUNCTION],
      );
    const defaultRoute = new HttpRoute(this, 'DefaultRoute', {
      httpApi: api,
      routeKey: HttpRouteKey.DEFAULT,
      integration: readIntegration,
    });
    // AwsSolutions-APIG4: the $default route only answers 404/405 error bodies (it reaches no use
    // case and no tenant data); requiring a token there would turn a wrong URL into a 401.
    Validations.of(defaultRoute).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason: 'The $default route answers only NOT_FOUND / METHOD_NOT_ALLOWED error bodies; no data.',
    });
  }
}
