/**
 * Shared helpers of the reliability project: a private-key leak scanner, a capturing logger, a
 * fault-injecting port/client wrapper (mocks only for failure injection, DESIGN section 8), an
 * in-process local runtime harness over real HTTP, store-consistency checks and the artifact
 * writer whose JSON the README quotes.
 */
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { mintLocalToken } from '../../functions/common/local-tokens';
import { readLocalConfig } from '../../functions/local/config';
import { FileKeystore, type StoredKeyRef } from '../../functions/local/file-keystore';
import { type LocalRuntime, startLocalRuntime } from '../../functions/local/server';
import type { CertificateRecord, Role, UploadFlow } from '../../shared/domain/types';
import { buildSelfSigned } from '../../shared/pki/builder';
import type { CertificateRepository } from '../../shared/ports';
import { capturingLogger } from '../helpers/logging';
import { daysFrom, tempDir } from '../helpers/pki';

const ROOT = resolve(__dirname, '..', '..');

// ---------------------------------------------------------------------------------------------
// Artifacts

/** Writes `test-artifacts/reliability/<name>.json` (git-ignored) for the README's figures. */
export function writeArtifact(name: string, data: Record<string, unknown>): string {
  const dir = join(ROOT, 'test-artifacts', 'reliability');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ name, finishedAt: new Date().toISOString(), ...data }, null, 2)}\n`,
  );
  return file;
}

// ---------------------------------------------------------------------------------------------
// Leak scanner

/** Length of the fragments a needle is cut into; any leak of 2*L-1 contiguous bytes is found. */
const FRAGMENT = 16;
const BASE = 0x01000193;
const BASE_POW = (() => {
  let p = 1;
  for (let i = 0; i < FRAGMENT - 1; i++) p = Math.imul(p, BASE) >>> 0;
  return p;
})();

function windowHash(data: Buffer, start: number): number {
  let h = 0;
  for (let i = 0; i < FRAGMENT; i++) h = (Math.imul(h, BASE) + data[start + i]!) >>> 0;
  return h;
}

interface Fragment {
  bytes: Buffer;
  key: string;
  form: string;
}

/** One place where key material was found. */
export interface LeakHit {
  item: string;
  key: string;
  form: string;
  offset: number;
}

/** Counts of what a scanner has looked at. */
export interface LeakStats {
  keys: number;
  fragments: number;
  itemsScanned: number;
  bytesScanned: number;
  hits: number;
}

/** Cuts a needle into FRAGMENT-long pieces at offsets 0, L, 2L, ... */
function fragmentsOf(needle: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off + FRAGMENT <= needle.length; off += FRAGMENT)
    out.push(needle.subarray(off, off + FRAGMENT));
  return out;
}

/**
 * The base64 text of `der` from the first 16-character boundary whose bytes all lie at or after
 * `privateFrom`: the PEM body (64-character lines are multiples of 16) minus the part that
 * encodes public fields, which a certificate may legitimately carry at the same alignment.
 */
function privateBase64(der: Buffer, privateFrom: number): Buffer {
  const text = der.toString('base64').replace(/=+$/, '');
  const firstChar = Math.ceil(privateFrom / 3) * 4;
  const start = Math.ceil(firstChar / FRAGMENT) * FRAGMENT;
  return Buffer.from(text.slice(start), 'latin1');
}

/**
 * Finds private keys in captured bytes: PEM bodies (PKCS#1 and PKCS#8, from the private fields
 * on), DER bytes and the private exponent d, the primes p and q and the CRT values as raw bytes,
 * lower/upper hex, decimal, base64 and base64url. Needles are cut into 16-byte fragments and
 * matched with a rolling hash, so a scan costs one pass over the data whatever the key count.
 * Public parts (modulus, exponent, certificate) are never needles: they may appear anywhere.
 */
export class LeakScanner {
  private readonly table = new Map<number, Fragment[]>();
  private readonly keyLabels = new Set<string>();
  private fragmentCount = 0;
  private items = 0;
  private bytes = 0;
  readonly hits: LeakHit[] = [];

  /** Adds a private key to look for; `label` names it in hits (never its bytes). */
  addKey(label: string, key: KeyObject): void {
    if (this.keyLabels.has(label)) return;
    this.keyLabels.add(label);
    const jwk = key.export({ format: 'jwk' }) as Record<string, string | undefined>;
    const needles: [string, Buffer][] = [];
    for (const part of ['d', 'p', 'q', 'dp', 'dq', 'qi']) {
      const value = jwk[part];
      if (!value) continue;
      const raw = Buffer.from(value, 'base64url');
      needles.push([`${part}:raw`, raw]);
      needles.push([`${part}:hex`, Buffer.from(raw.toString('hex'), 'latin1')]);
      needles.push([`${part}:HEX`, Buffer.from(raw.toString('hex').toUpperCase(), 'latin1')]);
      needles.push([`${part}:base64`, Buffer.from(raw.toString('base64'), 'latin1')]);
      needles.push([`${part}:base64url`, Buffer.from(value, 'latin1')]);
      needles.push([
        `${part}:decimal`,
        Buffer.from(BigInt(`0x${raw.toString('hex')}`).toString(10), 'latin1'),
      ]);
    }
    const d = Buffer.from(jwk.d ?? '', 'base64url');
    for (const type of ['pkcs8', 'pkcs1'] as const) {
      const der = key.export({ format: 'der', type }) as Buffer;
      const at = der.indexOf(d);
      if (at < 0) throw new Error(`LeakScanner: the private exponent was not found in the ${type} DER`);
      needles.push([`${type}:pem-body`, privateBase64(der, at)]);
      needles.push([`${type}:der`, der.subarray(at)]);
    }
    for (const [form, needle] of needles) {
      for (const bytes of fragmentsOf(needle)) {
        const h = windowHash(bytes, 0);
        const list = this.table.get(h) ?? [];
        list.push({ bytes: Buffer.from(bytes), key: label, form });
        this.table.set(h, list);
        this.fragmentCount++;
      }
    }
  }

  /** Scans one captured item (response body, log line, file); returns its hits. */
  scan(item: string, data: Buffer | string): LeakHit[] {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this.items++;
    this.bytes += buf.length;
    const found: LeakHit[] = [];
    if (buf.length < FRAGMENT || this.table.size === 0) return found;
    const seen = new Set<string>();
    let h = windowHash(buf, 0);
    for (let i = 0; ; i++) {
      const candidates = this.table.get(h);
      if (candidates) {
        for (const c of candidates) {
          if (buf.compare(c.bytes, 0, FRAGMENT, i, i + FRAGMENT) !== 0) continue;
          const id = `${c.key}/${c.form}`;
          if (seen.has(id)) continue;
          seen.add(id);
          found.push({ item, key: c.key, form: c.form, offset: i });
        }
      }
      if (i + FRAGMENT >= buf.length) break;
      h = (Math.imul((h - Math.imul(buf[i]!, BASE_POW)) >>> 0, BASE) + buf[i + FRAGMENT]!) >>> 0;
    }
    this.hits.push(...found);
    return found;
  }

  /** Scans every regular file under `dir` (recursively); returns the hits. */
  scanDir(dir: string, label = dir): LeakHit[] {
    const found: LeakHit[] = [];
    if (!existsSync(dir)) return found;
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const info = statSync(path);
      if (info.isDirectory()) found.push(...this.scanDir(path, `${label}/${name}`));
      else if (info.isFile()) found.push(...this.scan(`${label}/${name}`, readFileSync(path)));
    }
    return found;
  }

  stats(): LeakStats {
    return {
      keys: this.keyLabels.size,
      fragments: this.fragmentCount,
      itemsScanned: this.items,
      bytesScanned: this.bytes,
      hits: this.hits.length,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Keys and certificates

let keySeq = 0;

/** `n` fresh RSA keys (2048 bits unless told). */
export function freshKeys(n: number, bits = 2048): KeyObject[] {
  return Array.from({ length: n }, () => generateKeyPairSync('rsa', { modulusLength: bits }).privateKey);
}

/** A certificate for upload: its own serial, so each call yields a new certificate id. */
export interface UploadPair {
  key: KeyObject;
  keyPem: string;
  certPem: string;
  name: string;
}

/** A self-signed certificate for `key`, valid from yesterday for `days` days. */
export function pairFor(
  key: KeyObject,
  options: { now?: Date; days?: number; cn?: string } = {},
): UploadPair {
  const now = options.now ?? new Date();
  const name = options.cn ?? `Reliability ${++keySeq} ${randomBytes(3).toString('hex')}`;
  const cert = buildSelfSigned(key, {
    subject: [
      ['CN', name],
      ['C', 'US'],
      ['O', 'Reliability'],
    ],
    notBefore: daysFrom(now, -1),
    notAfter: daysFrom(now, options.days ?? 365),
  });
  return { key, keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), certPem: cert.pem, name };
}

// ---------------------------------------------------------------------------------------------
// Fault injection

/** What a fault looks like to the caller of a port or SDK client. */
export type FaultKind = 'error' | 'timeout' | 'throttle' | 'server';

/** An error as a dependency raises it, by kind (no key material, ever). */
export function faultError(kind: FaultKind, where: string): Error {
  const error = new Error(`injected ${kind} at ${where}`) as Error & {
    $metadata?: object;
    $fault?: string;
    code?: string;
  };
  if (kind === 'timeout') {
    error.name = 'TimeoutError';
    error.code = 'ETIMEDOUT';
  } else if (kind === 'throttle') {
    error.name = 'ThrottlingException';
    error.$fault = 'client';
    error.$metadata = { httpStatusCode: 400 };
  } else if (kind === 'server') {
    error.name = 'InternalServerError';
    error.$fault = 'server';
    error.$metadata = { httpStatusCode: 500 };
  } else {
    error.name = 'Error';
    error.code = 'EIO';
  }
  return error;
}

/**
 * Wraps port objects and SDK clients so that every call is traced (`port.method`, or
 * `client.CommandName` for SDK `send`) under one counter, and the call with a chosen index
 * fails. A timeout fault waits a little before it rejects, as a real one would.
 */
export class FaultPlan {
  readonly trace: string[] = [];
  injected = 0;
  readonly injectedAt: string[] = [];
  private failAt: number | undefined;
  private kind: FaultKind = 'error';
  private failWhere: ((step: string) => boolean) | undefined;

  /** Fails the `index`-th call (0-based, counted from now) with a fault of `kind`. */
  arm(index: number, kind: FaultKind = 'error'): void {
    this.trace.length = 0;
    this.failAt = index;
    this.failWhere = undefined;
    this.kind = kind;
  }

  /** Fails every call whose step name matches (until disarmed). */
  armWhere(match: (step: string) => boolean, kind: FaultKind = 'error'): void {
    this.trace.length = 0;
    this.failAt = undefined;
    this.failWhere = match;
    this.kind = kind;
  }

  /** Traces calls without failing any. */
  disarm(): void {
    this.trace.length = 0;
    this.failAt = undefined;
    this.failWhere = undefined;
  }

  private shouldFail(step: string, index: number): boolean {
    return index === this.failAt || (this.failWhere?.(step) ?? false);
  }

  private fail(step: string): Promise<never> {
    this.injected++;
    this.injectedAt.push(step);
    const error = faultError(this.kind, step);
    const delay = this.kind === 'timeout' ? 25 : 0;
    return new Promise((_, reject) => setTimeout(() => reject(error), delay));
  }

  /** A proxy of a port object whose method calls are traced and may fail. */
  port<T extends object>(name: string, target: T): T {
    return new Proxy(target, {
      get: (obj, prop, receiver) => {
        const value = Reflect.get(obj, prop, receiver);
        if (typeof value !== 'function' || typeof prop !== 'string') return value;
        return (...args: unknown[]) => {
          const step = `${name}.${prop}`;
          const index = this.trace.length;
          this.trace.push(step);
          if (this.shouldFail(step, index)) return this.fail(step);
          return value.apply(obj, args);
        };
      },
    });
  }

  /** An SDK client whose `send` is traced per command and may fail. */
  client<C extends { send: (...args: never[]) => unknown }>(name: string, client: C): C {
    const send = (command: { constructor: { name: string } }, ...rest: unknown[]) => {
      const step = `${name}.${command.constructor.name.replace(/Command$/, '')}`;
      const index = this.trace.length;
      this.trace.push(step);
      if (this.shouldFail(step, index)) return this.fail(step);
      return (client.send as (...args: unknown[]) => unknown).call(client, command, ...rest);
    };
    return Object.assign(Object.create(client) as C, { send });
  }
}

// ---------------------------------------------------------------------------------------------
// The local runtime over HTTP

/** One HTTP exchange as the test saw it. */
export interface Exchange {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
  json: any;
}

/** Sends requests to a base URL and keeps every response body (for the leak scan). */
export class ApiClient {
  readonly bodies: string[] = [];
  constructor(readonly baseUrl: string) {}

  async call(
    method: string,
    path: string,
    options: { token?: string; json?: unknown; body?: Buffer; contentType?: string; timeoutMs?: number } = {},
  ): Promise<Exchange> {
    const headers: Record<string, string> = {};
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | Buffer | undefined;
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.body) {
      headers['content-type'] = options.contentType ?? 'application/octet-stream';
      body = options.body;
    }
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
    });
    const text = await response.text();
    this.bodies.push(text);
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json };
  }

  upload(token: string, tenant: string, pair: { certPem: string; keyPem: string }): Promise<Exchange> {
    return this.call('POST', `/v1/tenants/${tenant}/certificates`, {
      token,
      json: { certificate: pair.certPem, privateKey: pair.keyPem },
    });
  }
}

/** A local runtime started in this process on a free port, with a capturing logger. */
export interface LocalHarness {
  runtime: LocalRuntime;
  api: ApiClient;
  dataDir: string;
  logs: string[];
  /** The repository and keystore the runtime started with (before any fault wrapping). */
  repo: CertificateRepository;
  keystore: FileKeystore;
  token(tenants: string[], roles: Role[], subject?: string): Promise<string>;
  close(): Promise<void>;
}

/** Starts the local runtime (PORT 0, a temp or given data dir, debug logs captured). */
export async function startLocalHarness(
  options: { flow?: UploadFlow; dataDir?: string; logs?: string[] } = {},
): Promise<LocalHarness> {
  const dataDir = options.dataDir ?? tempDir('reccert-rel-');
  const config = readLocalConfig({
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    RECCERT_FLOW: options.flow ?? 'aws',
    LOG_LEVEL: 'debug',
  });
  const { logger, lines } = capturingLogger(options.logs);
  const runtime = await startLocalRuntime(config, logger);
  const repo = runtime.deps.repo;
  const keystore = runtime.deps.custody as FileKeystore;
  return {
    runtime,
    api: new ApiClient(runtime.url),
    dataDir,
    logs: lines,
    repo,
    keystore,
    token: (tenants, roles, subject = 'reliability-admin') =>
      mintLocalToken(runtime.tokenSecret, { subject, tenants, roles }),
    async close() {
      runtime.deps.repo = repo;
      runtime.deps.custody = keystore;
      await runtime.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Store consistency (local runtime)

/** Keys without a certificate record and records without their key, for the given tenants. */
export interface Consistency {
  records: number;
  keys: number;
  keysWithoutRecord: StoredKeyRef[];
  recordsWithoutKey: Pick<CertificateRecord, 'tenantId' | 'id' | 'keyRef'>[];
}

/** Compares the local keystore's files with the repository's records. */
export async function localConsistency(
  dataDir: string,
  repo: CertificateRepository,
  tenants: string[],
): Promise<Consistency> {
  // Listing needs no master key; a throwaway one satisfies the constructor.
  const keys = await new FileKeystore(dataDir, randomBytes(32)).listKeyRefs();
  const all = new Set([...tenants, ...keys.map((k) => k.tenantId)]);
  const records: CertificateRecord[] = [];
  for (const tenant of all) records.push(...(await repo.listCertificates(tenant)));
  const recordKeys = new Set(records.map((r) => `${r.tenantId}/${r.keyRef}`));
  const keySet = new Set(keys.map((k) => `${k.tenantId}/${k.keyRef}`));
  return {
    records: records.length,
    keys: keys.length,
    keysWithoutRecord: keys.filter((k) => !recordKeys.has(`${k.tenantId}/${k.keyRef}`)),
    recordsWithoutKey: records
      .filter((r) => !keySet.has(`${r.tenantId}/${r.keyRef}`))
      .map((r) => ({ tenantId: r.tenantId, id: r.id, keyRef: r.keyRef })),
  };
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
