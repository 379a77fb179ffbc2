import crypto from 'node:crypto';
import { emfMetrics } from '../../functions/aws/adapters/emf-metrics';
import { expiryScanFunction, scanDeps } from '../../functions/aws/handlers/expiry-scan';
import { writeDeps } from '../../functions/aws/handlers/write-deps';
import { httpFunction } from '../../functions/aws/http';
import type { HttpApiEvent } from '../../functions/aws/runtime';
import { type AwsResources, provisionAwsResources } from '../../scripts/emulators/moto-resources';
import { writeRoutes } from '../../shared/http/route-groups/write';
import { daysFrom, makePair, rsaKey } from '../helpers/pki';
import { uniqueTenantId } from '../ports/fixtures';
import { motoClients } from './clients';
import { motoEndpoint } from './moto';

const clients = motoClients();
let resources: AwsResources;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  resources = await provisionAwsResources(motoEndpoint(), {
    prefix: `metrics-${crypto.randomBytes(4).toString('hex')}`,
  });
  env = { ...resources.env, LOG_LEVEL: 'silent' };
});

/** The EMF lines a function wrote, parsed. */
function captured(fn: string) {
  const lines: Record<string, unknown>[] = [];
  return {
    lines,
    metrics: emfMetrics(fn, (line) => lines.push(JSON.parse(line) as Record<string, unknown>)),
  };
}

/** An upload as API Gateway hands it to the write function (claims as the JWT authorizer passes them). */
function uploadEvent(tenant: string, body: string): HttpApiEvent {
  const routeKey = 'POST /v1/tenants/{tenantId}/certificates';
  const path = `/v1/tenants/${tenant}/certificates`;
  return {
    version: '2.0',
    routeKey,
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', host: 'api.example' },
    isBase64Encoded: false,
    body,
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example',
      domainPrefix: 'api',
      http: { method: 'POST', path, protocol: 'HTTP/1.1', sourceIp: '10.0.0.1', userAgent: 'jest' },
      requestId: crypto.randomUUID(),
      routeKey,
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
      authorizer: {
        jwt: {
          claims: {
            sub: 'metrics-test',
            exp: String(Math.floor(Date.now() / 1000) + 3600),
            tenant,
            roles: '[admin]',
          },
          scopes: null,
        },
      },
    },
  } as HttpApiEvent;
}

describe('operational metrics of the AWS functions (EMF, over moto)', () => {
  it('counts a stored upload in Uploads, and a refused one in nothing', async () => {
    const tenant = uniqueTenantId('metrics');
    const { lines, metrics } = captured('write');
    const write = httpFunction(
      'write',
      () =>
        writeDeps(
          { dynamodb: clients.dynamodb, s3: clients.s3, kms: clients.kms, events: clients.events },
          env,
        ),
      { routes: writeRoutes, metrics },
    );
    const now = new Date();
    const pair = makePair({ key: rsaKey(crypto.randomUUID()), now, notAfter: daysFrom(now, 365) });

    const stored = await write(
      uploadEvent(tenant, JSON.stringify({ certificate: pair.certPem, privateKey: pair.keyPem })),
    );
    const refused = await write(uploadEvent(tenant, JSON.stringify({ certificate: 'not a pem' })));

    expect([stored.statusCode, refused.statusCode]).toEqual([201, 400]);
    expect(lines).toEqual([expect.objectContaining({ Function: 'write', Uploads: 1 })]);
  });

  it('counts a finished scheduled scan in ScanRuns, with what it scanned and created', async () => {
    const { lines, metrics } = captured('expiry-scan');
    const scan = expiryScanFunction(
      () =>
        scanDeps(
          {
            dynamodb: clients.dynamodb,
            events: clients.events,
            sns: clients.sns,
            s3: clients.s3,
            kms: clients.kms,
          },
          env,
        ),
      metrics,
    );

    const summary = (await scan({ source: 'aws.scheduler' })) as { scanned: number; notifications: number };

    expect(lines).toEqual([
      expect.objectContaining({
        Function: 'expiry-scan',
        ScanRuns: 1,
        CertificatesScanned: summary.scanned,
        NoticesCreated: summary.notifications,
      }),
    ]);
  });
});
