import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readLocalConfig } from '../../functions/local/config';
import { type LocalRuntime, startLocalRuntime } from '../../functions/local/server';
import { errorLine, openssl, reccert, tempDir } from './cli';

const DN = ['--cn', 'Genesys Recording', '--country', 'US', '--state', 'California', '--org', 'Genesys'];

/** The real local runtime (SQLite, file keystore) on a free port, playing one flow. */
async function startRuntime(flow: 'aws' | 'azure'): Promise<{ runtime: LocalRuntime; dataDir: string }> {
  const dataDir = tempDir('reccert-cli-data-');
  const config = readLocalConfig({
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    RECCERT_FLOW: flow,
  });
  return { runtime: await startLocalRuntime(config), dataDir };
}

/** A token minted by the CLI itself, with the runtime's secret. */
async function cliToken(dataDir: string, tenant: string, role: string): Promise<string> {
  const result = await reccert(['token', '--tenant', tenant, '--role', role, '--data-dir', dataDir]);
  expect(result.code).toBe(0);
  return result.stdout.trim();
}

/** A fresh keygen'd pair in a new directory. */
async function keygen(extra: string[] = []): Promise<{ dir: string; fingerprint: string }> {
  const dir = tempDir();
  const result = await reccert(['keygen', ...DN, '--days', '365', '--json', ...extra], { cwd: dir });
  expect(result.code).toBe(0);
  return { dir, fingerprint: JSON.parse(result.stdout).details.fingerprintSha256 };
}

describe('reccert upload', () => {
  let aws: { runtime: LocalRuntime; dataDir: string };
  let azure: { runtime: LocalRuntime; dataDir: string };
  let awsToken: string;
  let azureToken: string;

  beforeAll(async () => {
    aws = await startRuntime('aws');
    azure = await startRuntime('azure');
    awsToken = await cliToken(aws.dataDir, 'acme', 'admin');
    azureToken = await cliToken(azure.dataDir, 'acme', 'admin');
  });

  afterAll(async () => {
    await aws?.runtime.close();
    await azure?.runtime.close();
  });

  it('uploads a keygen pair to the local runtime, which then holds it', async () => {
    const { dir, fingerprint } = await keygen();

    const result = await reccert(
      [
        'upload',
        '--url',
        aws.runtime.url,
        '--tenant',
        'acme',
        '--token',
        awsToken,
        'tenant.pem',
        'tenant.key',
      ],
      { cwd: dir },
    );

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Uploaded\.$/m);
    expect(result.stdout).toMatch(/^Subject DN: +O=Genesys,ST=California,C=US,CN=Genesys Recording$/m);
    expect(result.stdout).toContain(fingerprint);
    const location = /^Location: +(\S+)$/m.exec(result.stdout)?.[1];
    expect(location).toMatch(/^\/v1\/tenants\/acme\/certificates\//);
    const stored = await fetch(new URL(location!, aws.runtime.url), {
      headers: { authorization: `Bearer ${awsToken}` },
    });
    expect(stored.status).toBe(200);
    expect(((await stored.json()) as { fingerprintSha256: string }).fingerprintSha256).toBe(fingerprint);
  });

  it('shows the vault key on the Azure flow, and the JSON answer with --json', async () => {
    const { dir, fingerprint } = await keygen();

    const result = await reccert(
      ['upload', '--url', `${azure.runtime.url}/`, '--tenant', 'acme', 'tenant.pem', 'tenant.key', '--json'],
      { cwd: dir, env: { RECCERT_TOKEN: azureToken } },
    );

    expect(result.code).toBe(0);
    const body = JSON.parse(result.stdout);
    expect(body).toMatchObject({
      tenantId: 'acme',
      fingerprintSha256: fingerprint,
      subjectName: 'Genesys Recording',
    });
    expect(typeof body.key).toBe('string');
    expect(body.location).toBe(`/v1/tenants/acme/certificates/${body.id}`);
    expect(JSON.stringify(body)).not.toMatch(/PRIVATE KEY/);
  });

  it('sends the password of an encrypted key, read from standard input', async () => {
    const { dir, fingerprint } = await keygen();
    openssl(['pkcs8', '-topk8', '-in', 'tenant.key', '-out', 'enc.key', '-passout', 'pass:s3cret'], {
      cwd: dir,
    });

    const result = await reccert(
      [
        'upload',
        '--url',
        aws.runtime.url,
        '--tenant',
        'acme',
        '--token',
        awsToken,
        'tenant.pem',
        'enc.key',
        '--password-file',
        '-',
        '--json',
      ],
      { cwd: dir, input: 's3cret\n' },
    );

    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).fingerprintSha256).toBe(fingerprint);
  });

  it('validates only with --preview: nothing is stored', async () => {
    const { dir, fingerprint } = await keygen();

    const result = await reccert(
      [
        'upload',
        '--preview',
        '--url',
        aws.runtime.url,
        '--tenant',
        'acme',
        '--token',
        awsToken,
        'tenant.pem',
        'tenant.key',
      ],
      { cwd: dir },
    );

    expect(result.code).toBe(0);
    expect(result.stdout).toContain('preview: nothing was stored');
    const list = await fetch(`${aws.runtime.url}/v1/tenants/acme/certificates`, {
      headers: { authorization: `Bearer ${awsToken}` },
    });
    const items = ((await list.json()) as { items: Array<{ fingerprintSha256: string }> }).items;
    expect(items.map((i) => i.fingerprintSha256)).not.toContain(fingerprint);
  });

  it("prints the service's refusal as CODE: message with exit code 1", async () => {
    const pkcs1 = await keygen(['--pkcs1']);
    const duplicate = await keygen();
    const up = (url: string, token: string, dir: string) =>
      reccert(['upload', '--url', url, '--tenant', 'acme', '--token', token, 'tenant.pem', 'tenant.key'], {
        cwd: dir,
      });
    expect((await up(aws.runtime.url, awsToken, duplicate.dir)).code).toBe(0);

    const notPkcs8 = await up(azure.runtime.url, azureToken, pkcs1.dir);
    const again = await up(aws.runtime.url, awsToken, duplicate.dir);
    const badToken = await up(aws.runtime.url, azureToken, duplicate.dir);
    const decryptOnly = await up(
      aws.runtime.url,
      await cliToken(aws.dataDir, 'acme', 'decrypt'),
      duplicate.dir,
    );

    expect(notPkcs8.code).toBe(1);
    expect(errorLine(notPkcs8)).toMatch(/^PKCS8_REQUIRED: .*openssl pkcs8 -topk8 -nocrypt/);
    expect(again.code).toBe(1);
    expect(errorLine(again)).toMatch(/^CERTIFICATE_EXISTS: /);
    expect(badToken.code).toBe(1);
    expect(errorLine(badToken)).toMatch(/^UNAUTHORIZED: /);
    expect(decryptOnly.code).toBe(1);
    expect(errorLine(decryptOnly)).toMatch(/^FORBIDDEN: /);
  });

  it('exits with 3 when the service fails or cannot be reached', async () => {
    const { dir } = await keygen();
    // Failure injection: a server that answers every request with 503.
    const failing: Server = createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ error: { code: 'SERVICE_UNAVAILABLE', message: 'The key store is unavailable.' } }),
      );
    });
    await new Promise<void>((r) => failing.listen(0, '127.0.0.1', r));
    const failingUrl = `http://127.0.0.1:${(failing.address() as AddressInfo).port}`;
    const closed: Server = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((r) => closed.close(() => r()));

    try {
      const unavailable = await reccert(
        ['upload', '--url', failingUrl, '--tenant', 'acme', '--token', 'x.y.z', 'tenant.pem', 'tenant.key'],
        { cwd: dir },
      );
      const unreachable = await reccert(
        ['upload', '--url', closedUrl, '--tenant', 'acme', '--token', 'x.y.z', 'tenant.pem', 'tenant.key'],
        { cwd: dir },
      );

      expect(unavailable.code).toBe(3);
      expect(errorLine(unavailable)).toBe('SERVICE_UNAVAILABLE: The key store is unavailable.');
      expect(unreachable.code).toBe(3);
      expect(errorLine(unreachable)).toMatch(
        /^SERVICE_UNREACHABLE: cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED$/,
      );
    } finally {
      await new Promise<void>((r) => failing.close(() => r()));
    }
  });

  it.each([
    [
      'plain http to another host',
      ['--url', 'http://example.com', '--tenant', 'acme', '--token', 't'],
      /refusing to send a private key over plain http to example\.com; use https/,
    ],
    ['no URL', ['--tenant', 'acme', '--token', 't'], /missing --url/],
    ['no tenant', ['--url', 'https://api.test', '--token', 't'], /missing --tenant/],
    ['no token', ['--url', 'https://api.test', '--tenant', 'acme'], /missing --token/],
    [
      'a bad URL',
      ['--url', 'not a url', '--tenant', 'acme', '--token', 't'],
      /--url 'not a url' is not a URL/,
    ],
    [
      'a bad timeout',
      ['--url', 'https://api.test', '--tenant', 'acme', '--token', 't', '--timeout', '0'],
      /--timeout must be/,
    ],
  ])('refuses %s with exit code 2 before sending anything', async (_name, args, message) => {
    const dir = tempDir();

    const result = await reccert(['upload', ...args, 'tenant.pem', 'tenant.key'], {
      cwd: dir,
      env: { RECCERT_TOKEN: undefined, RECCERT_URL: undefined },
    });

    expect(result.code).toBe(2);
    expect(errorLine(result)).toMatch(message);
  });
});
