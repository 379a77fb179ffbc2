import type { Browser, Page } from 'playwright-core';
import {
  apiCall,
  assignViaApi,
  type CertFiles,
  cleanup,
  eventually,
  type LocalServer,
  launchBrowser,
  makeCertificate,
  openPage,
  pageErrors,
  snap,
  startLocalServer,
  uploadViaApi,
} from './harness';

describe('admin page: Recording Certificates', () => {
  let server: LocalServer;
  let browser: Browser;
  let page: Page;
  const made: CertFiles[] = [];
  const cert = (cn: string, days?: number): CertFiles => {
    const f = makeCertificate(cn, days);
    made.push(f);
    return f;
  };

  beforeAll(async () => {
    server = await startLocalServer();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    cleanup(...made);
  });
  beforeEach(async () => {
    page = await openPage(browser, server);
    await page.getByRole('heading', { name: 'Recording Certificates' }).waitFor();
  });
  afterEach(async () => {
    expect(pageErrors(page)).toEqual([]);
    await page.context().close();
  });

  it('signs in with the dev token and shows the tenant and roles; a pasted token works after sign-out', async () => {
    await expect(page.locator('#tenant-single').textContent()).resolves.toBe(`Tenant ${server.tenant}`);
    const roles = await page.locator('#roles .role').allTextContents();
    expect(roles.sort()).toEqual(['admin', 'decrypt']);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await snap(page, 'sign-in');
    expect(await page.evaluate("sessionStorage.getItem('reccert.token')")).toBeNull();

    await page.getByLabel('Bearer token (JWT)').fill(server.token);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Recording Certificates' }).waitFor();
    expect(await page.getByRole('button', { name: 'Upload certificate' }).isVisible()).toBe(true);
  });

  it('refuses a pasted value that is not a token, and takes the token from the link npm start prints', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Bearer token (JWT)').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'not a JWT' }).waitFor();

    await page.goto(`${server.baseUrl}/#token=${server.token}`);
    await page.getByRole('heading', { name: 'Recording Certificates' }).waitFor();
    // The token leaves the address bar at once.
    expect(new URL(page.url()).hash).toBe('#/certificates');
  });

  it('moves the focus into a dialog when it opens and back to its button when it closes (keyboard)', async () => {
    const open = page.getByRole('button', { name: 'Upload certificate' });
    await open.focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Upload recording certificate' });
    await dialog.waitFor();
    expect(await page.evaluate('document.activeElement && document.activeElement.id')).toBe(
      'upload-certificate',
    );
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    expect(await page.evaluate('document.activeElement && document.activeElement.id')).toBe('upload-open');
  });

  it('fills Subject Name, Serial Number and the DNs from the chosen files, then saves the upload', async () => {
    const files = cert('Genesys Recording');
    await page.getByRole('button', { name: 'Upload certificate' }).click();
    const dialog = page.getByRole('dialog', { name: 'Upload recording certificate' });
    await dialog.getByLabel('Certificate file').setInputFiles(files.certPath);
    await dialog.getByLabel('Private key file').setInputFiles(files.keyPath);

    const subjectName = dialog.getByLabel('Subject Name');
    expect(
      await eventually(
        () => subjectName.inputValue(),
        (v) => v !== '',
      ),
    ).toBe('Genesys Recording');
    const serial = await dialog.getByLabel('Serial Number').inputValue();
    expect(serial).toMatch(/^[0-9A-F]+$/);
    expect(await dialog.getByLabel('Subject DN').inputValue()).toBe(
      'O=Genesys,ST=California,C=US,CN=Genesys Recording',
    );
    expect(await dialog.getByLabel('Issuer DN').inputValue()).toBe(
      'O=Genesys,ST=California,C=US,CN=Genesys Recording',
    );
    await snap(page, 'upload-preview');

    // Nothing is stored by the preview.
    const before = await apiCall<{ items: unknown[] }>(
      server,
      'GET',
      `/v1/tenants/${server.tenant}/certificates`,
    );
    expect(before.body.items.some((c) => (c as { serialNumber: string }).serialNumber === serial)).toBe(
      false,
    );

    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByRole('heading', { name: 'Certificate stored' }).waitFor();
    await snap(page, 'upload-saved');
    await dialog.getByRole('button', { name: 'Close' }).click();

    const row = page.locator('#certs-table tbody tr', { hasText: serial });
    await row.waitFor();
    await expect(row.textContent()).resolves.toMatch(/expires in 36[45] days/);
    await expect(row.textContent()).resolves.toContain('active');
  });

  it('shows a refused upload next to the field it concerns: a key that does not match goes to the key field', async () => {
    const a = cert('Mismatch Certificate');
    const b = cert('Other Key');
    await page.getByRole('button', { name: 'Upload certificate' }).click();
    const dialog = page.getByRole('dialog', { name: 'Upload recording certificate' });
    await dialog.getByLabel('Certificate file').setInputFiles(a.certPath);
    await dialog.getByLabel('Private key file').setInputFiles(b.keyPath);

    const keyMsg = page.locator('#upload-key-msg');
    await keyMsg.locator('[data-code="KEY_MISMATCH"]').waitFor({ timeout: 15_000 });
    expect(await page.locator('#upload-certificate-msg .msg-error').count()).toBe(0);
    expect(await dialog.getByLabel('Private key file').getAttribute('aria-invalid')).toBe('true');
    expect(await dialog.getByRole('button', { name: 'Save' }).isDisabled()).toBe(true);
    await snap(page, 'upload-refused-key-mismatch');

    // A key in the certificate field is a certificate error, shown next to the certificate field.
    await dialog.getByLabel('Certificate file').setInputFiles(a.keyPath);
    await page.locator('#upload-certificate-msg .msg-error').waitFor({ timeout: 15_000 });
    expect(await page.locator('#upload-key-msg .msg-error').count()).toBe(0);

    // Cancel discards the chosen files: the next upload starts empty and nothing was stored.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: 'Upload certificate' }).click();
    expect(await dialog.getByLabel('Certificate file').inputValue()).toBe('');
    expect(await dialog.getByLabel('Subject Name').inputValue()).toBe('');
    await page.keyboard.press('Escape');
    const list = await apiCall<{ items: { subjectName: string }[] }>(
      server,
      'GET',
      `/v1/tenants/${server.tenant}/certificates`,
    );
    expect(list.body.items.some((c) => c.subjectName === 'Mismatch Certificate')).toBe(false);
  });

  it('opens a details panel with all fields and the assignment history', async () => {
    const uploaded = await uploadViaApi(server, cert('Details Recording'));
    await assignViaApi(server, uploaded.id, 'details-profile');
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.getByRole('button', { name: 'Show details of Details Recording' }).click();

    const panel = page.getByRole('complementary', { name: 'Details Recording' });
    await panel.waitFor();
    for (const label of [
      'Subject DN',
      'Issuer DN',
      'SHA-256 fingerprint',
      'Key size',
      'Valid until',
      'Alias',
    ]) {
      await panel.getByText(label, { exact: true }).waitFor();
    }
    await panel.getByText('Became active on IVR profile details-profile').waitFor();
    expect(await panel.locator('dd[data-field="keySize"]').textContent()).toBe('2048 bits');
    await snap(page, 'certificates-details');
  });

  it('assigns a certificate to the record profile, showing pending and then applied', async () => {
    const uploaded = await uploadViaApi(server, cert('Assign Recording'));
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.getByRole('button', { name: 'Assign Assign Recording' }).click();
    const dialog = page.getByRole('dialog', { name: 'Assign to IVR profile' });
    expect(await dialog.getByLabel('IVR profile').inputValue()).toBe('record');

    await dialog.getByRole('button', { name: 'Assign' }).click();
    const status = dialog.getByRole('status');
    await status.filter({ hasText: /^Pending/ }).waitFor({ timeout: 10_000 });
    await snap(page, 'assign-pending');
    await status.filter({ hasText: /^Applied/ }).waitFor({ timeout: 30_000 });
    await snap(page, 'assign-applied');

    const profile = await apiCall<{ activeCertificateId: string }>(
      server,
      'GET',
      `/v1/tenants/${server.tenant}/ivr-profiles/record`,
    );
    expect(profile.body.activeCertificateId).toBe(uploaded.id);
    await dialog.getByRole('button', { name: 'Close' }).click();
    await page
      .locator('#certs-table tbody tr', { hasText: 'Assign Recording' })
      .getByText('IVR: record')
      .waitFor();
  });

  it('shows bidirectional controls in a certificate name as visible [U+XXXX], never obeying them', async () => {
    // U+202E (right-to-left override) would make the list show "Recording‮gnp.exe" reversed.
    const uploaded = await uploadViaApi(server, cert('Bidi\u202Egnp.exe'));
    await page.getByRole('button', { name: 'Refresh' }).click();

    const row = page.locator('#certs-table tbody tr', { hasText: 'Bidi[U+202E]gnp.exe' });
    await row.waitFor();

    expect(uploaded.subjectName).toBe('Bidi\u202Egnp.exe');
    expect(await row.textContent()).not.toContain('\u202E');
    expect(await page.locator('body').textContent()).not.toContain('\u202E');
  });

  it('explains the delete guard: in use, retained (forced only after a second confirmation), and plain delete', async () => {
    const inUse = await uploadViaApi(server, cert('Guard In Use'));
    await assignViaApi(server, inUse.id, 'guard');
    const retained = await uploadViaApi(server, cert('Guard Retained'));
    await assignViaApi(server, retained.id, 'guard-old');
    // Replaced on its profile, "Guard Retained" is no longer assigned but is retained for playback.
    await assignViaApi(server, inUse.id, 'guard-old');
    await uploadViaApi(server, cert('Guard Unused'));
    await page.getByRole('button', { name: 'Refresh' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete certificate' });

    // In use: refused, with where it is used.
    await page.getByRole('button', { name: 'Delete Guard In Use' }).click();
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    const guard = dialog.getByRole('alert');
    await guard.filter({ hasText: 'in use by IVR profile guard' }).waitFor();
    await snap(page, 'delete-in-use');
    await dialog.getByRole('button', { name: 'Close' }).click();

    // Retained: explained; "Delete anyway" needs the explicit confirmation first.
    await page.getByRole('button', { name: 'Delete Guard Retained' }).click();
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await guard.filter({ hasText: 'recordings made while it was assigned may depend on it' }).waitFor();
    const force = dialog.getByRole('button', { name: 'Delete anyway' });
    expect(await force.isDisabled()).toBe(true);
    await snap(page, 'delete-retained');
    await dialog.getByRole('checkbox').check();
    await force.click();
    await page.getByRole('button', { name: 'Show details of Guard Retained' }).waitFor({ state: 'detached' });

    // Never assigned: deleted at once.
    await page.getByRole('button', { name: 'Delete Guard Unused' }).click();
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByRole('button', { name: 'Show details of Guard Unused' }).waitFor({ state: 'detached' });

    const list = await apiCall<{ items: { subjectName: string }[] }>(
      server,
      'GET',
      `/v1/tenants/${server.tenant}/certificates`,
    );
    const names = list.body.items.map((c) => c.subjectName);
    expect(names).toContain('Guard In Use');
    expect(names).not.toContain('Guard Retained');
    expect(names).not.toContain('Guard Unused');
    await snap(page, 'certificates');
  });
});
