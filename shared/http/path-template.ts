/**
 * Path templates as the route table writes them (`/v1/tenants/{tenantId}/certificates`) and as
 * the Functions host does (`v1/{*path}`, a catch-all), compiled to one regular expression. The
 * API handler, the AWS routing table and both host emulators match paths through this, so a path
 * cannot go to one route in one place and another elsewhere.
 */

/** A compiled template: one capture group per parameter, in the order of `names`. */
export interface CompiledPathTemplate {
  pattern: RegExp;
  names: string[];
}

export interface PathTemplateOptions {
  /** Also match the path with one trailing slash (default true, as the API handler does). */
  trailingSlash?: boolean;
  /** Match letters in any case (the Functions host's router does). */
  ignoreCase?: boolean;
}

/** `{name}` matches one segment; `{*name}` the rest of the path, slashes included. */
export function compilePathTemplate(
  template: string,
  options: PathTemplateOptions = {},
): CompiledPathTemplate {
  const names: string[] = [];
  let source = '';
  let last = 0;
  for (const param of template.matchAll(/\{(\*?)(\w+)\}/g)) {
    source += escapeRegExp(template.slice(last, param.index));
    names.push(param[2]!);
    source += param[1] ? '(.*)' : '([^/]+)';
    last = param.index + param[0].length;
  }
  source += escapeRegExp(template.slice(last));
  const end = options.trailingSlash === false ? '$' : '/?$';
  return { pattern: new RegExp(`^${source}${end}`, options.ignoreCase ? 'i' : ''), names };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
}
