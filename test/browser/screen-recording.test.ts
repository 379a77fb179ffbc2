import type { Browser, Page } from 'playwright-core';
import {
  apiCall,
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

interface ScreenState {
  certificateIds: string[];
  encryptionEnabled: boolean;
}

describe('admin page: Screen Recording Certificates', () => {
  let server: LocalServer;
  let browser: Browser;
  let page: Page;
  let files: CertFiles[] = [];
  let alpha: { id: string };
  let beta: { id: string };

  const screenState = async (): Promise<ScreenState> =>
    (await apiCall<ScreenState>(server, 'GET', `/v1/tenants/${server.tenant}/screen-recording-certificates`))
      .body;
  const rows = () => page.locator('#screen-table tbody tr');
  const addViaDialog = async (...names: string[]): Promise<void> => {
    await page.getByRole('button', { name: 'Add', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Select Certificate' });
    await dialog.waitFor();
    for (const n of names) await dialog.getByRole('checkbox', { name: new RegExp(n) }).check();
    await snap(page, 'screen-select-certificate');
    await dialog.getByRole('button', { name: 'Add selected' }).click();
    await dialog.waitFor({ state: 'hidden' });
  };

  beforeAll(async () => {
    server = await startLocalServer();
    browser = await launchBrowser();
    files = [makeCertificate('Screen Alpha'), makeCertificate('Screen Beta')];
    alpha = await uploadViaApi(server, files[0]!);
    beta = await uploadViaApi(server, files[1]!);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    cleanup(...files);
  });
  beforeEach(async () => {
    page = await openPage(browser, server, '#/screen-recording');
    await page.getByRole('heading', { name: 'Screen Recording Certificates' }).waitFor();
    await page.locator('#screen-state', { hasText: /encrypted/ }).waitFor();
  });
  afterEach(async () => {
    expect(pageErrors(page)).toEqual([]);
    await page.context().close();
  });

  it('sends nothing until Save, and Cancel restores the saved list', async () => {
    await addViaDialog('Screen Alpha', 'Screen Beta');
    await rows().filter({ hasText: 'to be added' }).nth(1).waitFor();
    expect(await page.locator('#screen-dirty').textContent()).toContain('2 to add');
    await snap(page, 'screen-recording-unsaved');
    expect((await screenState()).certificateIds).toEqual([]);

    await page.getByRole('button', { name: 'Cancel' }).click();
    expect(await rows().count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Save' }).isDisabled()).toBe(true);
    expect((await screenState()).certificateIds).toEqual([]);
  });

  it('saves additions and removals, and asks before removing the last certificate', async () => {
    await addViaDialog('Screen Alpha', 'Screen Beta');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#screen-state', { hasText: 'encrypted (2 certificates)' }).waitFor();
    expect((await screenState()).certificateIds.sort()).toEqual([alpha.id, beta.id].sort());
    await snap(page, 'screen-recording');

    await page.getByRole('button', { name: 'Remove Screen Beta' }).click();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#screen-state', { hasText: 'encrypted (1 certificate)' }).waitFor();
    expect(await screenState()).toEqual({ certificateIds: [alpha.id], encryptionEnabled: true });

    // The last one: a confirmation that says what happens; keeping encryption changes nothing.
    await page.getByRole('button', { name: 'Remove Screen Alpha' }).click();
    await page.getByRole('button', { name: 'Save' }).click();
    const confirm = page.getByRole('dialog', { name: 'Turn off screen recording encryption?' });
    await confirm.getByText('Screen recordings will no longer be encrypted').waitFor();
    await snap(page, 'screen-recording-confirm-last');
    await confirm.getByRole('button', { name: 'Keep encryption' }).click();
    expect(await screenState()).toEqual({ certificateIds: [alpha.id], encryptionEnabled: true });

    await page.getByRole('button', { name: 'Save' }).click();
    await confirm.getByRole('button', { name: 'Remove and stop encrypting' }).click();
    await page.locator('#screen-state', { hasText: 'not encrypted' }).waitFor();
    expect(await screenState()).toEqual({ certificateIds: [], encryptionEnabled: false });
  });
});
