import type { Browser, Page } from 'playwright-core';
import { loadOrCreateTokenSecret, mintLocalToken } from '../../functions/common/local-tokens';
import {
  apiCall,
  assignViaApi,
  type CertFiles,
  cleanup,
  type LocalServer,
  launchBrowser,
  makeCertificate,
  openPage,
  pageErrors,
  snap,
  startLocalServer,
  uploadViaApi,
} from './harness';

describe('admin page: roles, warnings and notifications', () => {
  let server: LocalServer;
  let browser: Browser;
  let page: Page | undefined;
  const made: CertFiles[] = [];

  beforeAll(async () => {
    server = await startLocalServer();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    cleanup(...made);
  });
  afterEach(async () => {
    if (page) {
      expect(pageErrors(page)).toEqual([]);
      await page.context().close();
      page = undefined;
    }
  });

  it('shows an expiring-soon warning next to the certificate field, and the expiry badge', async () => {
    const soon = makeCertificate('Expiring Soon', 20);
    made.push(soon);
    page = await openPage(browser, server);
    await page.getByRole('button', { name: 'Upload certificate' }).click();
    const dialog = page.getByRole('dialog', { name: 'Upload recording certificate' });
    await dialog.getByLabel('Certificate file').setInputFiles(soon.certPath);
    await dialog.getByLabel('Private key file').setInputFiles(soon.keyPath);
    await page.locator('#upload-certificate-msg [data-code="EXPIRES_SOON"]').waitFor({ timeout: 15_000 });
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByRole('heading', { name: 'Certificate stored' }).waitFor();
    await dialog.getByRole('button', { name: 'Close' }).click();
    const row = page.locator('#certs-table tbody tr', { hasText: 'Expiring Soon' });
    await row.getByText(/expires in (19|20) days/).waitFor();
  });

  it('lists the expiry notices of the certificates in use, where each is active and whether a replacement is ready', async () => {
    const inUse = makeCertificate('Notice In Use', 20);
    const replacement = makeCertificate('Notice Replacement', 365);
    made.push(inUse, replacement);
    const active = await uploadViaApi(server, inUse);
    await assignViaApi(server, active.id, 'support');
    const ready = await uploadViaApi(server, replacement);
    const secret = loadOrCreateTokenSecret(server.dataDir);
    const operator = await mintLocalToken(secret, {
      subject: 'ops',
      tenants: [server.tenant],
      roles: ['operator'],
    });
    const scan = await apiCall(server, 'POST', '/v1/expiry-scan', {}, operator);
    expect(scan.status).toBe(200);

    page = await openPage(browser, server, '#/notifications');
    await page.getByRole('heading', { name: 'Notifications' }).waitFor();
    const row = page.locator('#notif-table tbody tr', { hasText: 'Notice In Use' }).first();
    await row.getByText(/expires within \d+ days?/).waitFor();
    expect(await row.locator('[data-field="activeIn"]').textContent()).toBe('IVR: support');
    expect(await row.locator('[data-field="replacement"]').textContent()).toBe('ready: assign it');
    expect(await row.getAttribute('title')).toContain(
      'recordings keep being encrypted with the expired certificate',
    );
    // The certificate uploaded by the first test was never assigned: no notice about it (rule 14).
    expect(await page.locator('#notif-table tbody tr', { hasText: 'Expiring Soon' }).count()).toBe(0);
    await snap(page, 'notifications');

    await page.getByRole('link', { name: 'Recording Certificates', exact: true }).click();
    const listed = page.locator('#certs-table tbody tr', { hasText: 'Notice In Use' });
    await listed.getByText('replacement ready: Notice Replacement').waitFor();
    expect(await listed.locator(`[data-replacement="${ready.id}"]`).count()).toBe(1);
    const unassigned = page.locator('#certs-table tbody tr', { hasText: 'Expiring Soon' });
    expect(await unassigned.locator('[data-replacement]').count()).toBe(0);
  });

  it('hides the actions a decrypt-only token may not take, and still shows the certificates', async () => {
    const cert = makeCertificate('Viewer Visible');
    made.push(cert);
    await uploadViaApi(server, cert);
    const secret = loadOrCreateTokenSecret(server.dataDir);
    const viewer = await mintLocalToken(secret, {
      subject: 'viewer',
      tenants: [server.tenant],
      roles: ['decrypt'],
    });

    page = await openPage(browser, server, '#/certificates', { token: viewer });
    await page.getByRole('button', { name: 'Show details of Viewer Visible' }).waitFor();
    expect(await page.locator('#roles .role').allTextContents()).toEqual(['decrypt']);
    expect(await page.getByRole('button', { name: 'Upload certificate' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /^(Assign|Delete)/ }).count()).toBe(0);
    await page.getByRole('link', { name: 'Screen Recording Certificates' }).click();
    await page.getByRole('heading', { name: 'Screen Recording Certificates' }).waitFor();
    expect(await page.getByRole('button', { name: 'Add', exact: true }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Save' }).count()).toBe(0);
    await snap(page, 'decrypt-role-view');
  });
});
