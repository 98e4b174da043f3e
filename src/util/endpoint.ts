/**
 * One configured Marathon (or marathon-lb) base URL, split into what goes on the wire and what may be
 * shown. Credentials in the URL become an Authorization header and never appear in `display`.
 */
export interface Endpoint {
  /** Base URL without credentials, query or fragment, and without a trailing slash on its path. */
  base: string;
  /** `Basic ...` when the URL carried user:password, else undefined. */
  authorization: string | undefined;
  /** Safe to log: the base URL with any credentials replaced by `***`. */
  display: string;
}

export function parseEndpoint(raw: string): Endpoint {
  const url = new URL(raw);
  let authorization: string | undefined;
  let display = '';
  if (url.username !== '' || url.password !== '') {
    // URL keeps userinfo percent-encoded; the header wants the real characters (a ':' in the password
    // is fine because only the first ':' separates user from password).
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  url.search = '';
  url.hash = '';
  const base = url.toString().replace(/\/+$/, '');
  display = authorization === undefined ? base : base.replace('://', '://***@');
  return { base, authorization, display };
}

/** The base path is kept: `http://host/marathon` + `/v2/apps` → `http://host/marathon/v2/apps`. */
export function endpointUrl(endpoint: Endpoint, path: string, query?: URLSearchParams): string {
  const qs = query === undefined || query.size === 0 ? '' : `?${query.toString()}`;
  return `${endpoint.base}${path}${qs}`;
}

export function endpointDisplayUrl(endpoint: Endpoint, path: string, query?: URLSearchParams): string {
  const qs = query === undefined || query.size === 0 ? '' : `?${query.toString()}`;
  return `${endpoint.display}${path}${qs}`;
}
