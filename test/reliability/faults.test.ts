/**
 * Faults (issue 9): every multi-step operation of the local runtime (upload, delete, IVR assignment
 * with its consumer, screen-recording change) is first traced step by step through its ports, then
 * run once per step with a failure injected exactly there (plain errors and timeouts, alternately).
 * After each: the caller got a clean success or a 503 with Retry-After, no key is left without its
 * metadata nor metadata without its key (or the documented orphan sweep removes the key), the
 * change is audited when it happened, and a retry succeeds.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { KmsS3Keystore, keyObjectKey } from '../../functions/aws/adapters/kms-s3-keystore';
import { writeDeps } from '../../functions/aws/handlers/write-deps';
import { motoClientConfig, provisionAwsResources } from '../../scripts/emulators/moto-resources';
import {
  ensureMotoInstalled,
  type MotoServer,
  startMoto,
  stopMoto,
} from '../../scripts/emulators/moto-server';
import type { DomainEvent } from '../../shared/domain/types';
import { type ApiRequest, type ApiResponse, createApiHandler } from '../../shared/http/api-handler';
import { routes } from '../../shared/http/routes';
import type { CertificateRepository, EscrowStore, EventPublisher, KeyCustody } from '../../shared/ports';
import type { CoreDeps } from '../../shared/usecases/deps';
import { ORPHAN_MIN_AGE_MS, sweepOrphanKeys } from '../../shared/usecases/orphan-keys';
import { capturingLogger } from '../helpers/logging';
import {
  type Exchange,
  type FaultKind,
  FaultPlan,
  freshKeys,
  LeakScanner,
  type LocalHarness,
  localConsistency,
  pairFor,
  startLocalHarness,
  writeArtifact,
} from './helpers';

const tenant = 'faults';
const base = `/v1/tenants/${tenant}`;
const keys = freshKeys(6);
const scanner = new LeakScanner();
keys.forEach((k, i) => {
  scanner.addKey(`faults-${i}`, k);
});
let keyIndex = 0;
const newPair = () => pairFor(keys[keyIndex++ % keys.length]!);

const figures = {
  operations: {} as Record<
    string,
    { steps: string[]; faults: number; answered503: number; answered2xx: number }
  >,
  faultsInjected: 0,
  orphanKeysLeftForSweep: 0,
  orphanKeysSwept: 0,
  retriesSucceeded: 0,
};

let h: LocalHarness;
let admin: string;
const plan = new FaultPlan();
const logs: string[] = [];
const published: DomainEvent[] = [];

function publishedFor(type: DomainEvent['type'], key: string, value: string): number {
  return published.filter((e) => e.type === type && e.data[key] === value).length;
}

beforeAll(async () => {
  h = await startLocalHarness({ logs });
  admin = await h.token([tenant], ['admin', 'decrypt']);
  h.runtime.events.observe((e) => published.push(e));
  h.runtime.deps.repo = plan.port<CertificateRepository>('repo', h.repo);
  h.runtime.deps.custody = plan.port<KeyCustody>('custody', h.keystore);
  h.runtime.deps.escrow = plan.port<EscrowStore>('escrow', h.repo as unknown as EscrowStore);
  h.runtime.deps.events = plan.port<EventPublisher>('events', h.runtime.events);
});

afterAll(async () => {
  for (const [i, body] of h.api.bodies.entries()) scanner.scan(`faults:response#${i}`, body);
  for (const [i, line] of logs.entries()) scanner.scan(`faults:log#${i}`, line);
  await h.close();
  scanner.scanDir(h.dataDir, 'faults:data');
  figures.faultsInjected += plan.injected;
  writeArtifact('faults', {
    ...figures,
    violations,
    unknownViolations: violations.length,
    leakScan: scanner.stats(),
  });
  expect(scanner.hits).toEqual([]);
  expect(violations).toEqual([]);
});

/** One operation under test: `prepare` runs unfaulted, `run` is what gets a fault, `check` after. */
interface Operation<P> {
  name: string;
  success: number;
  prepare(): Promise<P>;
  run(input: P): Promise<Exchange>;
  /** After a success (first try or retry): the change is fully there and audited. */
  verify(input: P, response: Exchange): Promise<void>;
}

async function settle(): Promise<void> {
  await h.runtime.events.idle();
}

async function expectConsistent(): Promise<number> {
  const c = await localConsistency(h.dataDir, h.repo, [tenant]);
  expect(c.recordsWithoutKey).toEqual([]);
  return c.keysWithoutRecord.length;
}

async function auditActions(certificateId: string): Promise<string[]> {
  return (await h.repo.listAudit(tenant, 100_000))
    .filter((e) => e.certificateId === certificateId)
    .map((e) => e.action);
}

async function uploaded(): Promise<string> {
  const r = await h.api.upload(admin, tenant, newPair());
  expect(r.status).toBe(201);
  return r.json.id as string;
}

interface Violation {
  at: string;
  problem: string;
}
const violations: Violation[] = [];

async function problemOf(check: () => Promise<void>): Promise<string | undefined> {
  try {
    await check();
    return undefined;
  } catch (error) {
    return String((error as Error).message)
      .split('\n')
      .filter(Boolean)
      .slice(0, 4)
      .join(' | ');
  }
}

async function exercise<P>(op: Operation<P>): Promise<void> {
  // Trace the steps of a clean run.
  plan.disarm();
  const input = await op.prepare();
  plan.disarm();
  const clean = await op.run(input);
  await settle();
  expect(clean.status).toBe(op.success);
  await op.verify(input, clean);
  const steps = [...plan.trace];
  expect(steps.length).toBeGreaterThan(2);
  const stats = { steps, faults: 0, answered503: 0, answered2xx: 0 };
  figures.operations[op.name] = stats;
  let orphans = await expectConsistent();

  for (const [index, step] of steps.entries()) {
    const kind: FaultKind = index % 2 === 0 ? 'error' : 'timeout';
    plan.disarm();
    const fresh = await op.prepare();
    const before = plan.injected;
    plan.arm(index, kind);
    const response = await op.run(fresh);
    await settle();
    plan.disarm();
    const at = `${op.name}#${index}:${step}`;
    const context = `${at} (${kind})`;
    expect({ context, injected: plan.injected - before }).toEqual({ context, injected: 1 });
    stats.faults++;
    if (response.status === 503) {
      stats.answered503++;
      expect({
        context,
        code: response.json?.error?.code,
        retryAfter: Number(response.headers.get('retry-after')) > 0,
      }).toEqual({ context, code: 'SERVICE_UNAVAILABLE', retryAfter: true });
    } else {
      stats.answered2xx++;
      expect({ context, status: response.status }).toEqual({ context, status: op.success });
    }
    // Never metadata without its key; a key without metadata is counted for the sweep test.
    const now = await expectConsistent();
    figures.orphanKeysLeftForSweep += now - orphans;
    orphans = now;
    // The caller retries what it was told to retry; a success needs no retry.
    const final = response.status === 503 ? await op.run(fresh) : response;
    await settle();
    if (response.status === 503 && final.status === op.success) figures.retriesSucceeded++;
    const problem =
      final.status !== op.success
        ? `retry answered ${final.status} ${final.json?.error?.code ?? ''}`.trim()
        : await problemOf(() => op.verify(fresh, final));
    if (problem) violations.push({ at, problem });
    await expectConsistent();
  }
}

describe('fault injection at every step of the local runtime', () => {
  it('upload: a failure at any step is a 503 that leaves nothing half-stored, and a retry stores it', async () => {
    await exercise({
      name: 'upload',
      success: 201,
      prepare: async () => newPair(),
      run: (pair) => h.api.upload(admin, tenant, pair),
      verify: async (_pair, response) => {
        const id = response.json.id as string;
        const record = await h.repo.getCertificate(tenant, id);
        expect(record).toBeDefined();
        expect(await auditActions(id)).toContain('certificate.upload');
        expect(publishedFor('CertificateUploaded', 'certificateId', id)).toBe(1);
      },
    });
  });

  it('delete: a failure at any step is a 503 or a success, and a retry deletes it', async () => {
    await exercise({
      name: 'delete',
      success: 204,
      prepare: uploaded,
      // A retried delete of a certificate that is already gone answers 404: that is success too.
      run: async (id) => {
        const r = await h.api.call('DELETE', `${base}/certificates/${id}`, { token: admin });
        return r.status === 404 ? { ...r, status: 204 } : r;
      },
      verify: async (id) => {
        expect(await h.repo.getCertificate(tenant, id)).toBeUndefined();
        expect(await auditActions(id)).toContain('certificate.delete');
        expect(publishedFor('CertificateDeleted', 'certificateId', id)).toBe(1);
      },
    });
  });

  it('IVR assignment: a failure at any step, request or consumer, ends applied once and audited', async () => {
    await exercise({
      name: 'ivr-assignment',
      success: 202,
      prepare: uploaded,
      run: (id) =>
        h.api.call('PUT', `${base}/ivr-profiles/faulty/recording-certificate`, {
          token: admin,
          json: { certificateId: id },
        }),
      verify: async (id) => {
        const { state } = await h.repo.getAssignments(tenant);
        expect(state.profiles.faulty?.activeCertificateId).toBe(id);
        expect(await auditActions(id)).toContain('ivr.assign.applied');
        expect(publishedFor('IvrAssignmentApplied', 'certificateId', id)).toBe(1);
      },
    });
  });

  it('screen-recording change: a failure at any step changes nothing or everything, audited', async () => {
    await exercise({
      name: 'screen-change',
      success: 200,
      prepare: uploaded,
      run: (id) =>
        h.api.call('PATCH', `${base}/screen-recording-certificates`, { token: admin, json: { add: [id] } }),
      verify: async (id) => {
        const { state } = await h.repo.getAssignments(tenant);
        expect(state.screen.certificateIds).toContain(id);
        expect(
          published.filter(
            (e) =>
              e.type === 'ScreenRecordingCertificatesChanged' &&
              (e.data.certificateIds as string[]).includes(id),
          ).length,
        ).toBeGreaterThan(0);
        const audit = await h.repo.listAudit(tenant, 100_000);
        expect(
          audit.some(
            (e) =>
              e.action === 'screen.change' && ((e.details?.added as string[] | undefined) ?? []).includes(id),
          ),
        ).toBe(true);
      },
    });
  });

  it('upload with an escrow certificate: a failure at any step, escrow included, stores nothing half; a success is escrowed', async () => {
    plan.disarm();
    const escrow = newPair();
    const registered = await h.api.call('PUT', `${base}/escrow-certificate`, {
      token: admin,
      json: { certificate: escrow.certPem },
    });
    expect(registered.status).toBe(200);
    await exercise({
      name: 'escrowed-upload',
      success: 201,
      prepare: async () => newPair(),
      run: (pair) => h.api.upload(admin, tenant, pair),
      verify: async (_pair, response) => {
        const id = response.json.id as string;
        expect(await h.repo.getCertificate(tenant, id)).toBeDefined();
        // The unwrapped store: verifying must not add steps to the traced run.
        const copies = await (h.repo as unknown as EscrowStore).listEscrowCopies(tenant);
        expect(copies.map((c) => c.certificateId)).toContain(id);
        expect(await auditActions(id)).toContain('certificate.upload');
      },
    });
  });

  it('the orphan sweep removes every key a failed step left behind when the runtime restarts', async () => {
    const before = await localConsistency(h.dataDir, h.repo, [tenant]);
    const restarted = await startLocalHarness({ dataDir: h.dataDir, logs });
    try {
      const after = await localConsistency(h.dataDir, restarted.repo, [tenant]);
      figures.orphanKeysSwept = before.keysWithoutRecord.length - after.keysWithoutRecord.length;
      expect(after.keysWithoutRecord).toEqual([]);
      expect(after.recordsWithoutKey).toEqual([]);
      expect(after.records).toBe(before.records);
    } finally {
      // Only the data dir is shared; the first runtime keeps its own connection open.
      await restarted.runtime.close();
    }
    expect(readdirSync(join(h.dataDir, 'keys', tenant)).length).toBe(before.records);
  });
});

describe('fault injection at every AWS call of the write function (moto)', () => {
  let moto: MotoServer | undefined;
  let env: Record<string, string>;
  const awsPlan = new FaultPlan();
  const awsTenant = 'faults-aws';
  let handle: (request: ApiRequest) => Promise<ApiResponse>;
  let deps: CoreDeps;
  let s3: S3Client;
  let motoConfig: ReturnType<typeof motoClientConfig>;

  beforeAll(async () => {
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
    ensureMotoInstalled();
    moto = await startMoto();
    const resources = await provisionAwsResources(moto.endpoint, { prefix: 'reliability' });
    env = { ...resources.env, LOG_LEVEL: 'silent' };
    const config = { ...motoClientConfig(moto.endpoint), maxAttempts: 1 };
    motoConfig = config;
    s3 = new S3Client({ ...config, forcePathStyle: true });
    deps = writeDeps(
      {
        dynamodb: awsPlan.client('dynamodb', new DynamoDBClient(config)),
        s3: awsPlan.client('s3', s3),
        kms: awsPlan.client('kms', new KMSClient(config)),
        events: awsPlan.client('eventbridge', new EventBridgeClient(config)),
      },
      env,
    );
    deps.logger = capturingLogger(logs).logger;
    handle = createApiHandler({
      deps,
      routes,
      version: 'test',
      authenticate: () => Promise.reject(new Error('claims come verified, as from API Gateway')),
    });
  }, 120_000);

  afterAll(async () => {
    figures.faultsInjected += awsPlan.injected;
    if (moto) await stopMoto(moto.pid);
  });

  const claims = {
    sub: 'aws-admin',
    exp: Math.floor(Date.now() / 1000) + 3600,
    tenant: 'faults-aws',
    roles: ['admin'],
  };
  async function call(method: string, path: string, body?: unknown): Promise<ApiResponse> {
    const response = await handle({
      method,
      path,
      query: {},
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: Buffer.from(JSON.stringify(body)) }),
      verifiedClaims: claims,
    });
    awsBodies.push(String(response.body));
    return response;
  }
  const awsBodies: string[] = [];

  /** Sealed key objects in S3 vs certificate records in DynamoDB. */
  async function awsConsistency() {
    const listed = await s3.send(
      new ListObjectsV2Command({ Bucket: env.BUCKET_NAME, Prefix: `tenants/${awsTenant}/keys/` }),
    );
    const objects = new Set((listed.Contents ?? []).map((o) => o.Key!));
    const records = await deps.repo.listCertificates(awsTenant);
    const wanted = new Set(records.map((r) => keyObjectKey(awsTenant, r.keyRef)));
    return {
      records: records.length,
      recordsWithoutKey: records
        .filter((r) => !objects.has(keyObjectKey(awsTenant, r.keyRef)))
        .map((r) => r.id),
      keysWithoutRecord: [...objects].filter((o) => !wanted.has(o)),
    };
  }

  async function awsExercise(
    name: string,
    success: number,
    prepare: () => Promise<string | UploadPairLike>,
    run: (input: string | UploadPairLike) => Promise<ApiResponse>,
  ) {
    awsPlan.disarm();
    const input = await prepare();
    awsPlan.disarm();
    expect((await run(input)).status).toBe(success);
    const steps = [...awsPlan.trace];
    const stats = { steps, faults: 0, answered503: 0, answered2xx: 0 };
    figures.operations[name] = stats;
    const kinds: FaultKind[] = ['throttle', 'server', 'timeout'];
    const knownOrphans = new Set((await awsConsistency()).keysWithoutRecord);
    for (const [index, step] of steps.entries()) {
      const kind = kinds[index % kinds.length]!;
      awsPlan.disarm();
      const fresh = await prepare();
      awsPlan.arm(index, kind);
      const response = await run(fresh);
      awsPlan.disarm();
      const at = `${name}#${index}:${step}`;
      stats.faults++;
      if (response.status === 503) {
        stats.answered503++;
        expect({ at, retryAfter: Number(response.headers['retry-after']) > 0 }).toEqual({
          at,
          retryAfter: true,
        });
      } else {
        stats.answered2xx++;
        expect({ at, status: response.status }).toEqual({ at, status: success });
      }
      const state = await awsConsistency();
      expect({ at, recordsWithoutKey: state.recordsWithoutKey }).toEqual({ at, recordsWithoutKey: [] });
      const newOrphans = state.keysWithoutRecord.filter((k) => !knownOrphans.has(k));
      for (const k of newOrphans) knownOrphans.add(k);
      if (newOrphans.length > 0) {
        // The documented cleanup: the daily scan's orphan sweep, run as of two hours later.
        figures.orphanKeysLeftForSweep += newOrphans.length;
        const keystore = new KmsS3Keystore(new KMSClient(motoConfig), s3, {
          bucketName: env.BUCKET_NAME!,
          kmsKeyId: env.KMS_KEY_ID!,
        });
        const later = { now: () => new Date(Date.now() + ORPHAN_MIN_AGE_MS + 60_000) };
        const swept = await sweepOrphanKeys(
          { ...deps, custody: keystore, clock: later },
          { minAgeMs: ORPHAN_MIN_AGE_MS },
        );
        figures.orphanKeysSwept += swept.removed;
        const left = (await awsConsistency()).keysWithoutRecord.filter((k) => newOrphans.includes(k));
        if (left.length > 0) {
          violations.push({ at, problem: `${left.length} sealed key object(s) left after the orphan sweep` });
        }
      }
      const final = response.status === 503 ? await run(fresh) : response;
      if (response.status === 503 && final.status === success) figures.retriesSucceeded++;
      if (final.status !== success) violations.push({ at, problem: `retry answered ${final.status}` });
      const after = await awsConsistency();
      expect({ at, recordsWithoutKey: after.recordsWithoutKey }).toEqual({ at, recordsWithoutKey: [] });
    }
  }

  type UploadPairLike = { certPem: string; keyPem: string };

  it('upload: throttling, 5xx and timeouts at each call are 503s that leave no key without its record', async () => {
    await awsExercise(
      'aws-upload',
      201,
      async () => newPair(),
      (pair) => {
        const p = pair as UploadPairLike;
        return call('POST', `/v1/tenants/${awsTenant}/certificates`, {
          certificate: p.certPem,
          privateKey: p.keyPem,
        });
      },
    );
  });

  it('delete: a fault at each call is a 503 or a success, and a retry deletes it', async () => {
    await awsExercise(
      'aws-delete',
      204,
      async () => {
        const p = newPair();
        const r = await call('POST', `/v1/tenants/${awsTenant}/certificates`, {
          certificate: p.certPem,
          privateKey: p.keyPem,
        });
        expect(r.status).toBe(201);
        return JSON.parse(String(r.body)).id as string;
      },
      async (id) => {
        const r = await call('DELETE', `/v1/tenants/${awsTenant}/certificates/${id as string}`);
        return r.status === 404 ? { ...r, status: 204 } : r;
      },
    );
    for (const [i, body] of awsBodies.entries()) scanner.scan(`faults-aws:response#${i}`, body);
  });
});
