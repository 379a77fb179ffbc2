import type { Browser, Page } from 'playwright-core';
import {
  apiCall,
  type CertFiles,
  cleanup,
  eventually,
  freePort,
  type LocalServer,
  launchBrowser,
  makeCertificate,
  snap,
  startLocalServer,
  uploadViaApi,
} from './harness';
import { hostPage, type OidcProvider, type PageHost, startOidcProvider } from './signin-provider';

const CLIENT_ID = 'reccert-admin-page';
const API_AUDIENCE = 'urn:reccert:api';
// Short enough that the page renews the access token (30 s before expiry) while a test runs.
const ACCESS_TOKEN_TTL = 40;

describe('admin page: OpenID Connect sign-in (provider, page and API on three origins)', () => {
  let provider: OidcProvider;
  let server: LocalServer;
  let host: PageHost;
  let browser: Browser;
  let page: Page;
  const made: CertFiles[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    const pagePort = await freePort();
    const pageUrl = `http://127.0.0.1:${pagePort}/`;
    provider = await startOidcProvider({
      clientId: CLIENT_ID,
      pageUrl,
      apiAudience: API_AUDIENCE,
      accessTokenTtl: ACCESS_TOKEN_TTL,
      users: [
        { id: 'alice', tenant: 'acme', roles: ['admin', 'decrypt'] },
        { id: 'bob', tenant: 'globex', roles: ['admin', 'decrypt'] },
        { id: 'carol', tenant: 'acme', roles: [] },
        { id: 'dave', roles: ['admin'] },
      ],
    });
    server = await startLocalServer({
      RECCERT_DEV_TENANT: 'acme',
      RECCERT_CORS_ORIGINS: new URL(pageUrl).origin,
      RECCERT_JWT_ISSUER: provider.issuer,
      RECCERT_JWT_AUDIENCE: API_AUDIENCE,
      RECCERT_JWKS_URI: provider.jwksUri,
    });
    host = await hostPage(
      pagePort,
      {
        apiBaseUrl: server.baseUrl,
        defaultIvrProfile: 'record',
        pollIntervalMs: 750,
        pollTimeoutMs: 60000,
        auth: {
          mode: 'oidc',
          issuer: provider.issuer,
          clientId: CLIENT_ID,
          scopes: 'openid offline_access',
          apiToken: 'access_token',
          claims: { tenant: 'tenant', tenants: 'tenants', roles: 'roles' },
        },
      },
      [server.baseUrl, provider.issuer],
    );
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await host?.stop();
    await server?.stop();
    await provider?.stop();
    cleanup(...made);
  });
  beforeEach(async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    // The provider's pages import a web font; this machine has no way out, and needs none.
    await context.route(/fonts\.googleapis\.com/, (route) => route.abort());
    page = await context.newPage();
    errors.length = 0;
    page.on('pageerror', (e) => errors.push(e.message));
  });
  afterEach(async () => {
    expect(errors).toEqual([]);
    await page.context().close();
  });

  /** Opens the page at `query`, presses Sign in and goes through the provider's login and consent pages. */
  async function signIn(user: string, query = ''): Promise<void> {
    await page.goto(`${host.url}${query}`);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((url) => url.origin === provider.issuer);
    await page.locator('input[name="login"]').fill(user);
    await page.locator('input[name="password"]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL((url) => url.href.startsWith(host.url));
  }

  it('signs in at the provider, uploads and lists a certificate through the page, renews the token and signs out', async () => {
    const files = makeCertificate('OIDC Recording');
    made.push(files);
    await signIn('alice');
    await page.getByRole('heading', { name: 'Recording Certificates' }).waitFor();
    await expect(page.locator('#tenant-single').textContent()).resolves.toBe('Tenant acme');
    expect((await page.locator('#roles .role').allTextContents()).sort()).toEqual(['admin', 'decrypt']);
    await expect(page.locator('#subject').textContent()).resolves.toBe('alice');
    // The code and state left the address bar; no token is stored anywhere in the browser.
    expect(new URL(page.url()).search).toBe('');
    expect(new URL(page.url()).hash).toBe('#/certificates');
    expect(await page.evaluate('JSON.stringify(Object.keys(sessionStorage))')).toBe('[]');
    expect(await page.evaluate('localStorage.length')).toBe(0);

    await page.getByRole('button', { name: 'Upload certificate' }).click();
    const dialog = page.getByRole('dialog', { name: 'Upload recording certificate' });
    await dialog.getByLabel('Certificate file').setInputFiles(files.certPath);
    await dialog.getByLabel('Private key file').setInputFiles(files.keyPath);
    expect(
      await eventually(
        () => dialog.getByLabel('Subject Name').inputValue(),
        (v) => v !== '',
      ),
    ).toBe('OIDC Recording');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByRole('heading', { name: 'Certificate stored' }).waitFor();
    await dialog.getByRole('button', { name: 'Close' }).click();
    await page.locator('#certs-table tbody tr', { hasText: 'OIDC Recording' }).waitFor();
    await snap(page, 'signin-oidc-certificates');
    const stored = await apiCall<{ items: { subjectName: string; uploadedBy: string }[] }>(
      server,
      'GET',
      '/v1/tenants/acme/certificates',
    );
    expect(stored.body.items.find((c) => c.subjectName === 'OIDC Recording')?.uploadedBy).toBe('alice');

    // The page renews its access token with the refresh token before it expires, and goes on working.
    expect(
      await eventually(
        async () => provider.refreshes(),
        (n) => n > 0,
        ACCESS_TOKEN_TTL * 1000,
      ),
    ).toBeGreaterThan(0);
    await page.getByRole('button', { name: 'Refresh' }).first().click();
    await page.locator('#certs-table tbody tr', { hasText: 'OIDC Recording' }).waitFor();
    expect(await page.locator('#certs-error').isHidden()).toBe(true);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    await page.waitForURL((url) => url.href.startsWith(host.url));
    await page.getByRole('button', { name: 'Sign in', exact: true }).waitFor();
    await snap(page, 'signin-oidc-signed-out');
    // The provider's session ended too: signing in again asks for the login.
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.locator('input[name="login"]').waitFor();
  });

  it('shows a user of another tenant the API refusal for the tenant the address names', async () => {
    await uploadViaApi(
      server,
      (() => {
        const f = makeCertificate('Acme Only');
        made.push(f);
        return f;
      })(),
    );
    await signIn('bob', '?tenant=acme');
    await page.getByRole('heading', { name: 'Recording Certificates' }).waitFor();
    const refusal = page.locator('#certs-error');
    await refusal
      .filter({ hasText: "Not allowed: This token does not give access to tenant 'acme'." })
      .waitFor();
    expect(await page.locator('#certs-table tbody tr', { hasText: 'Acme Only' }).count()).toBe(0);
    await snap(page, 'signin-oidc-wrong-tenant');
  });

  it('tells a user without a role that they cannot view certificates', async () => {
    await signIn('carol');
    await page.locator('#roles').filter({ hasText: 'no role' }).waitFor();
    await page
      .locator('#certs-error')
      .filter({ hasText: 'holds neither the admin nor the decrypt role' })
      .waitFor();
    expect(await page.getByRole('button', { name: 'Upload certificate' }).isVisible()).toBe(false);
  });

  it('tells a user whose account names no tenant to ask for one, on the sign-in screen', async () => {
    await signIn('dave');
    await page
      .getByRole('alert')
      .filter({ hasText: 'You are signed in as dave, but your account belongs to no tenant' })
      .waitFor();
    expect(await page.locator('#tabs').isHidden()).toBe(true);
  });

  it('refuses a sign-in answer this tab did not ask for (state)', async () => {
    await page.goto(`${host.url}?code=stolen-code&state=forged-state`);
    await page.getByRole('alert').filter({ hasText: 'was not started in this tab' }).waitFor();
    expect(new URL(page.url()).search).toBe('');
  });
});
