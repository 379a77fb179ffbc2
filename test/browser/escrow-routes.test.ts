/**
 * The Escrow and backup panel against the service's escrow routes (PUT/GET escrow-certificate,
 * GET key-backup; issue 15). What the panel does without them is in escrow-panel.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
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
  uploadViaApi,
} from './harness';

describe('admin page: the Escrow and backup panel on the escrow routes', () => {
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

  it('registers the escrow certificate, shows it, and downloads a backup that openssl opens with the escrow key', async () => {
    const recording = makeCertificate('Escrowed Recording');
    const escrow = makeCertificate('Acme Escrow');
    made.push(recording, escrow);
    const uploaded = await uploadViaApi(server, recording);
    page = await openPage(browser, server, '#/escrow');
    await page.getByText('No escrow certificate yet').waitFor();

    await page.getByLabel(/Escrow certificate \(PEM/).setInputFiles(escrow.certPath);
    await page.getByRole('button', { name: 'Register' }).click();

    await page.locator('#escrow-props [data-field="subjectDN"]', { hasText: 'CN=Acme Escrow' }).waitFor();
    expect(await page.locator('#escrow-props [data-field="escrowedKeys"]').textContent()).toBe('1');
    await page.getByText('Every key the service holds is escrowed.').waitFor();
    expect(await page.getByRole('button', { name: 'Replace' }).count()).toBe(1);
    await snap(page, 'escrow-and-backup');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download backup' }).click(),
    ]);
    const saved = join(escrow.dir, 'backup.cms');
    await download.saveAs(saved);
    const plain = execFileSync(
      'openssl',
      [
        'cms',
        '-decrypt',
        '-binary',
        '-inform',
        'DER',
        '-in',
        saved,
        '-inkey',
        escrow.keyPath,
        '-recip',
        escrow.certPath,
      ],
      { stdio: 'pipe' },
    ).toString();
    expect(plain).toContain(`certificateId: ${uploaded.id}`);
    expect(plain).toMatch(/-----BEGIN PRIVATE KEY-----/);
  });
});
