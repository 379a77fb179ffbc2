import type { Browser, Page } from 'playwright-core';
import {
  type CertFiles,
  cleanup,
  type LocalServer,
  launchBrowser,
  makeCertificate,
  openPage,
  pageErrors,
  snap,
  startLocalServer,
} from './harness';

describe('admin page: azure upload flow', () => {
  let server: LocalServer;
  let browser: Browser;
  let page: Page;
  let files: CertFiles;

  beforeAll(async () => {
    server = await startLocalServer({ RECCERT_FLOW: 'azure' });
    browser = await launchBrowser();
    files = makeCertificate('Azure Recording');
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (files) cleanup(files);
  });

  it('shows the Key and Alias of the stored certificate, which then becomes active on the record profile', async () => {
    page = await openPage(browser, server);
    await page.getByRole('button', { name: 'Upload certificate' }).click();
    const dialog = page.getByRole('dialog', { name: 'Upload recording certificate' });
    await dialog.getByLabel('Certificate file').setInputFiles(files.certPath);
    await dialog.getByLabel('Private key file').setInputFiles(files.keyPath);
    await dialog
      .getByRole('button', { name: 'Save' })
      .and(page.locator(':enabled'))
      .waitFor({ timeout: 15_000 });
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByRole('heading', { name: 'Certificate stored' }).waitFor();

    const key = await dialog.locator('dd[data-field="Key"]').textContent();
    const alias = await dialog.locator('dd[data-field="Alias"]').textContent();
    expect(key).toBeTruthy();
    expect(alias).toBeTruthy();
    await snap(page, 'upload-azure-key-alias');
    await dialog.getByRole('button', { name: 'Close' }).click();

    // The azure flow assigns an upload to the record profile by itself (event-driven).
    const row = page.locator('#certs-table tbody tr', { hasText: 'Azure Recording' });
    for (let i = 0; i < 50 && (await row.getByText('IVR: record').count()) === 0; i++) {
      await page.getByRole('button', { name: 'Refresh' }).click();
      await page.waitForTimeout(200);
    }
    await row.getByText('IVR: record').waitFor();
    expect(pageErrors(page)).toEqual([]);
    await page.context().close();
  });
});
