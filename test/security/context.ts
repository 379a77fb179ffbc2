/**
 * What every check of one runtime shares: the running target, a tenant holding one certificate
 * (made by the openssl CLI) with its key in custody, and the sample bodies of each route of the
 * route table, so a route added to the table is driven by every check that drives bodies, or
 * fails loudly until it gets a sample here.
 */
import { randomUUID } from 'node:crypto';
import type { Role } from '../../shared/domain/types';
import type { AnyRoute } from '../../shared/http/routes';
import { accessOf, type Target } from './harness';
import { type OpensslPair, patternedPlaintext, recording } from './material';

/** A body of one kind for one route. */
export interface SampleBody {
  kind: 'json' | 'multipart' | 'cms';
  contentType: string;
  body: Buffer;
}

export interface Ctx {
  t: Target;
  tenant: string;
  pair: OpensslPair;
  certificateId: string;
  /** Plaintext of `recording` (small, for per-offset checks). */
  plaintext: Buffer;
  recording: Buffer;
  /** Parameter values of a path that exists: the tenant, its certificate, the `record` profile. */
  values: Record<string, string>;
  /** Private keys the run used, PEM (for the leak scan). */
  privateKeys: Map<string, string>;
}

export const BOUNDARY = 'reccertSecurityBoundary7MA4YWxk';

/** A multipart/form-data body with file parts (and `privateKeyPassword` as a text field). */
export function multipart(fields: Record<string, string>): Buffer {
  const parts = Object.entries(fields).map(([name, value]) =>
    name === 'privateKeyPassword'
      ? `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`
      : `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"; filename="${name}.pem"\r\nContent-Type: application/x-pem-file\r\n\r\n${value}\r\n`,
  );
  return Buffer.from(`${parts.join('')}--${BOUNDARY}--\r\n`, 'utf8');
}

export const MULTIPART_TYPE = `multipart/form-data; boundary=${BOUNDARY}`;

const json = (value: unknown): SampleBody => ({
  kind: 'json',
  contentType: 'application/json',
  body: Buffer.from(JSON.stringify(value)),
});

/**
 * Well-formed bodies of every kind `route` takes. Throws for a route with a body this file does
 * not know yet: a new route must get its sample before the security project passes.
 */
export function sampleBodies(ctx: Ctx, route: AnyRoute): SampleBody[] {
  if (route.streamBody) return [{ kind: 'cms', contentType: 'application/cms', body: ctx.recording }];
  if (!route.body) return [];
  const upload = { certificate: ctx.pair.certPem, privateKey: ctx.pair.keyPem };
  switch (route.operationId) {
    case 'previewCertificate':
    case 'uploadCertificate':
      return [json(upload), { kind: 'multipart', contentType: MULTIPART_TYPE, body: multipart(upload) }];
    case 'verifyKey':
      return [
        json({ privateKey: ctx.pair.keyPem }),
        { kind: 'multipart', contentType: MULTIPART_TYPE, body: multipart({ privateKey: ctx.pair.keyPem }) },
      ];
    case 'assignRecordingCertificate':
      return [json({ certificateId: ctx.certificateId })];
    case 'changeScreenRecordingCertificates':
      return [json({ add: [ctx.certificateId] })];
    case 'runExpiryScan':
      return [json({ now: new Date().toISOString() })];
    case 'putEscrowCertificate':
      // Any sound certificate will do as an escrow certificate; its key stays out of the body.
      return [json({ certificate: ctx.pair.certPem })];
    default:
      throw new Error(
        `test/security/context.ts has no sample body for ${route.operationId}: add one so the security checks drive it`,
      );
  }
}

/** A token that opens `route` for `tenant` (all the roles the route accepts). */
export function tokenFor(ctx: Ctx, route: AnyRoute, tenant = ctx.tenant, subject?: string): Promise<string> {
  const access = accessOf(route);
  const roles: Role[] = access ? access.roles : ['admin', 'decrypt'];
  return ctx.t.token(
    access?.tenantScoped ? [tenant] : [],
    roles,
    subject ?? `sec-${randomUUID().slice(0, 8)}`,
  );
}

/** Builds the tenant's recording (small, so every byte offset can be tried). */
export async function smallRecording(certPem: string): Promise<{ plaintext: Buffer; recording: Buffer }> {
  const plaintext = patternedPlaintext(300, 'small');
  return { plaintext, recording: await recording(plaintext, [certPem]) };
}
