/**
 * Webhook URLs are secrets as a whole: Slack and Mattermost put the token in the path, others in the
 * query. Only scheme://host[:port] of one is ever shown (logs, errors, the start-up line); user:password
 * in it becomes Basic auth and is not sent in the URL.
 */
import { ConfigError } from '../config.js';

export interface WebhookTarget {
  /** What is POSTed to, userinfo removed. Secret: never log it. */
  url: string;
  authorization: string | undefined;
  /** scheme://host[:port]: the only part that may be shown. */
  display: string;
  /** Text that must not leave the process in a log line (the URL, its path and query). */
  secrets: readonly string[];
}

const HIDDEN = '(the URL is not repeated: webhook URLs hold secrets)';

/** `subject` names the URL in an error message, which never quotes more of it than scheme://host. */
export function parseWebhookUrl(text: string, subject = 'the notification URL'): WebhookTarget {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new ConfigError(`${subject} is not a valid URL ${HIDDEN}`);
  }
  const display = `${url.protocol}//${url.host}`;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${subject} (${display}/…) must be an http:// or https:// URL`);
  }
  let authorization: string | undefined;
  if (url.username !== '' || url.password !== '') {
    // URL keeps userinfo percent-encoded; the header wants the real characters.
    authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  url.hash = '';
  const pathAndQuery = `${url.pathname}${url.search}`;
  const secrets = [url.href, text.trim(), ...(pathAndQuery.length > 1 ? [pathAndQuery] : [])];
  return { url: url.href, authorization, display, secrets };
}

/** `--notify-url` and MARATHON_ACME_NOTIFY_URL: one URL or a comma list, each checked; returned as given. */
export function parseWebhookUrlList(text: string): string[] {
  const items = text.split(',').map((item) => item.trim());
  items.forEach((item, i) => {
    const which = items.length === 1 ? 'the notification URL' : `notification URL ${i + 1} of ${items.length}`;
    if (item === '') throw new ConfigError(`${which} is empty; expected URL[,URL,...]`);
    parseWebhookUrl(item, which);
  });
  return items;
}

/** scheme://host[:port] of a configured URL, for the start-up line; never throws. */
export function webhookDisplay(text: string): string {
  try {
    return parseWebhookUrl(text).display;
  } catch {
    return '(invalid URL)';
  }
}

/** `text` with every secret of `target` replaced, for log lines built from peers' answers and errors. */
export function hideSecrets(target: WebhookTarget, text: string): string {
  let out = text;
  for (const secret of target.secrets) out = out.split(secret).join('…');
  return out;
}
