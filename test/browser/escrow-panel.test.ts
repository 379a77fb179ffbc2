import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { loadOrCreateTokenSecret, mintLocalToken } from '../../functions/common/local-tokens';
import {
  type CertFiles,
  cleanup,
  type LocalServer,
  launchBrowser,
  makeCertificate,
  openPage,
  pageErrors,
  startLocalServer,
} from './harness';

describe('admin page: the Escrow and backup panel', () => {
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

  it('says there is no escrow certificate yet, and sends no file that holds a private key', async () => {
    const escrow = makeCertificate('Acme Escrow');
    made.push(escrow);
    const both = join(escrow.dir, 'both.pem');
    writeFileSync(both, `${escrow.certPem}${escrow.keyPem}`);
    page = await openPage(browser, server, '#/escrow');
    const sent: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'PUT') sent.push(r.url());
    });
    await page.getByRole('heading', { name: 'Escrow and backup' }).waitFor();
    await page.getByText('No escrow certificate yet').waitFor();
    expect(await page.getByRole('button', { name: 'Download backup' }).isDisabled()).toBe(true);

    await page.getByLabel(/Escrow certificate \(PEM/).setInputFiles(both);
    await page.getByRole('button', { name: 'Register' }).click();

    await page.getByRole('alert').getByText('This file holds a private key.').waitFor();
    expect(sent).toEqual([]);
  });

  it('shows a decrypt-only token the panel without the admin actions', async () => {
    const secret = loadOrCreateTokenSecret(server.dataDir);
    const viewer = await mintLocalToken(secret, {
      subject: 'viewer',
      tenants: [server.tenant],
      roles: ['decrypt'],
    });

    page = await openPage(browser, server, '#/escrow', { token: viewer });
    await page.getByRole('heading', { name: 'Escrow and backup' }).waitFor();

    expect(await page.getByRole('button', { name: 'Download backup' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Register' }).count()).toBe(0);
  });
});
