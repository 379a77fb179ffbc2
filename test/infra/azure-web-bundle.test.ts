import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { webContentSecurityPolicy } from '../../functions/common/web-csp';
import { staticWebAppConfig, writeWebBundle } from '../../infra/azure/web-bundle';

describe('the Azure admin page bundle (infra/azure/web-bundle.ts)', () => {
  it('writes web/ with a config.js pointing at the Function App and the Static Web App headers', () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'reccert-web-azure-')), 'site');

    writeWebBundle({
      api: 'https://func-reccert-abc.azurewebsites.net/',
      issuer: 'https://login.microsoftonline.com/tenant-id/v2.0',
      out,
    });

    const files = fs.readdirSync(out).sort();
    expect(files).toEqual(
      expect.arrayContaining(['app.js', 'config.js', 'index.html', 'staticwebapp.config.json', 'styles.css']),
    );
    expect(fs.readFileSync(path.join(out, 'config.js'), 'utf8')).toContain(
      '{"apiBaseUrl":"https://func-reccert-abc.azurewebsites.net"}',
    );
    const config = JSON.parse(fs.readFileSync(path.join(out, 'staticwebapp.config.json'), 'utf8'));
    expect(config.globalHeaders).toMatchObject({
      'Content-Security-Policy': webContentSecurityPolicy([
        'https://func-reccert-abc.azurewebsites.net',
        'https://login.microsoftonline.com',
      ]),
      'Strict-Transport-Security': 'max-age=63072000; includeSubDomains',
      'X-Frame-Options': 'DENY',
      'X-Content-Type-Options': 'nosniff',
    });
    fs.rmSync(path.dirname(out), { recursive: true, force: true });
  });

  it('refuses an API or issuer that is not https, naming the option', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'reccert-web-azure-'));

    expect(() =>
      writeWebBundle({ api: 'http://func.example.net', issuer: 'https://login.example.com', out }),
    ).toThrow(/--api must be an https URL/);
    expect(() => writeWebBundle({ api: 'https://func.example.net', issuer: 'login', out })).toThrow(
      /--issuer must be an https URL/,
    );
    fs.rmSync(out, { recursive: true, force: true });
  });

  it('sends the same CSP as the AWS distribution', () => {
    const headers = staticWebAppConfig(['https://api.example.com']).globalHeaders as Record<string, string>;

    expect(headers['Content-Security-Policy']).toBe(webContentSecurityPolicy(['https://api.example.com']));
  });
});
