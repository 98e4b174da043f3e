/**
 * The ACME resource a request was for: the directory itself, a directory entry (newNonce, newAccount,
 * newOrder, keyChange, revokeCert, renewalInfo), or the kind of object URL the CA handed out (account,
 * order, authz, challenge, finalize, cert). A closed set, so that request URLs, which carry order and
 * authorization ids, never become metric labels.
 */
export type AcmeEndpoint =
  | 'directory'
  | 'newNonce'
  | 'newAccount'
  | 'account'
  | 'keyChange'
  | 'revokeCert'
  | 'newOrder'
  | 'order'
  | 'authz'
  | 'challenge'
  | 'finalize'
  | 'cert'
  | 'renewalInfo';

export type AcmeRequestObserver = (endpoint: AcmeEndpoint, seconds: number) => void;
