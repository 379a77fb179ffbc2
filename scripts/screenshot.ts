/**
 * Writes docs/screenshot-certificates.png, the README's picture of the Recording Certificates
 * screen: starts the real local server on a free port with a throw-away data directory, uploads a
 * few certificates made by openssl, assigns one, and photographs the page in Debian's chromium.
 *
 *   npx tsx scripts/screenshot.ts [output.png]
 */
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  apiCall,
  assignViaApi,
  cleanup,
  launchBrowser,
  makeCertificate,
  openPage,
  ROOT,
  snap,
  startLocalServer,
  uploadViaApi,
} from '../test/browser/harness';

async function main(): Promise<void> {
  const out = resolve(process.argv[2] ?? join(ROOT, 'docs', 'screenshot-certificates.png'));
  mkdirSync(dirname(out), { recursive: true });
  const server = await startLocalServer();
  const files = [
    makeCertificate('Genesys Recording', 365),
    makeCertificate('Recording 2025 rollover', 730),
    makeCertificate('Screen Recording EU', 25),
    makeCertificate('Recording 2024', 400),
  ];
  try {
    // Uploaded first and replaced on `record` later: shown as retired, kept for playback.
    const replaced = await uploadViaApi(server, files[3]!);
    await assignViaApi(server, replaced.id, 'record');
    const active = await uploadViaApi(server, files[0]!);
    await uploadViaApi(server, files[1]!);
    const screen = await uploadViaApi(server, files[2]!);
    await assignViaApi(server, active.id, 'record');
    await apiCall(server, 'PATCH', `/v1/tenants/${server.tenant}/screen-recording-certificates`, {
      add: [screen.id],
    });
    const browser = await launchBrowser();
    try {
      const page = await openPage(browser, server);
      await page.getByRole('button', { name: 'Show details of Genesys Recording' }).click();
      await page.getByText('Became active on IVR profile record').waitFor();
      // Keep the focus ring and the hover state out of the picture.
      await page.locator('#details-title').blur();
      await page.mouse.move(0, 0);
      await snap(page, 'readme', out);
      console.log(`wrote ${out}`);
    } finally {
      await browser.close();
    }
  } finally {
    await server.stop();
    cleanup(...files);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
