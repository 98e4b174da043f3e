/**
 * One configured Marathon (or marathon-lb) base URL, split into what goes on the wire and what may be
 * shown. Credentials in the URL become an Authorization header and never appear in `display`; a
 * query string is sent with every request (as the original did) and its values never appear either,
 * since an auth proxy's token is often given that way.
 */
export interface Endpoint {
  /** Base URL without credentials, query or fragment, and without a trailing slash on its path. */
  base: string;
  /** The URL's own query as written, without `?`, sent before each request's parameters; '' when none. */
  query: string;
  /** `Basic ...` when the URL carried user:password, else undefined. */
  authorization: string | undefined;
  /** Safe to log: the base URL with any credentials replaced by `***`, and its query's values too. */
  display: string;
  /** `display` without the query, for building the display of a request URL. */
  displayBase: string;
}

export function parseEndpoint(raw: string): Endpoint {
  const url = new URL(raw);
  let authorization: string | undefined;
  if (url.username !== '' || url.password !== '') {
    // URL keeps userinfo percent-encoded; the header wants the real characters (a ':' in the password
    // is fine because only the first ':' separates user from password).
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  // Kept as written rather than re-encoded: a proxy may compare a token byte for byte.
  const query = url.search.replace(/^\?/, '');
  url.search = '';
  url.hash = '';
  const base = url.toString().replace(/\/+$/, '');
  const displayBase = authorization === undefined ? base : base.replace('://', '://***@');
  return { base, query, authorization, display: `${displayBase}${joinQuery(maskedQuery(query))}`, displayBase };
}

/**
 * The base path is kept: `http://host/marathon` + `/v2/apps` → `http://host/marathon/v2/apps`. The
 * URL's own parameters come first and the request's after them, both kept whole.
 */
export function endpointUrl(endpoint: Endpoint, path: string, query?: URLSearchParams): string {
  return `${endpoint.base}${path}${joinQuery(endpoint.query, query?.toString())}`;
}

/** endpointUrl as it may be logged: credentials and the values of the URL's own parameters masked. */
export function endpointDisplayUrl(endpoint: Endpoint, path: string, query?: URLSearchParams): string {
  return `${endpoint.displayBase}${path}${joinQuery(maskedQuery(endpoint.query), query?.toString())}`;
}

/** `token=abc&x` → `token=***&x=***`: which parameters there are, never what they say. */
function maskedQuery(query: string): string {
  return [...new URLSearchParams(query).keys()].map((name) => `${encodeURIComponent(name)}=***`).join('&');
}

function joinQuery(...parts: Array<string | undefined>): string {
  const present = parts.filter((part): part is string => part !== undefined && part !== '');
  return present.length === 0 ? '' : `?${present.join('&')}`;
}
