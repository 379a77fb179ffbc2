/**
 * The admin page's Content-Security-Policy, one home for every place that serves the page: the
 * local runtime's server (functions/local/server.ts), the AWS CloudFront response headers
 * (infra/aws/constructs/hosting.ts) and the Azure Static Web App (infra/azure/web-bundle.ts).
 */

/**
 * Everything from the page's own origin, no inline script or style, no framing, no plugins, no
 * `<base>` or form posts elsewhere, and network access only to `connectSources` (the API, the
 * token issuer) besides the page's own origin.
 */
export function webContentSecurityPolicy(connectSources: readonly string[]): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${connectSources.join(' ')}`.trim(),
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "object-src 'none'",
  ].join('; ');
}
