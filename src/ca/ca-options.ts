/** The parsers of the options that list the CAs; their messages are completed by the CLI with the flag or variable. */
import { ConfigError, parseSeconds, parseUrlList, redactUrlText } from '../config.js';

/**
 * What makes two directory URLs the same CA: `https://CA.example:443/dir` and `https://ca.example/dir`
 * are one directory, and listing it twice would only retry the CA that just failed.
 */
export function directoryKey(url: string): string {
  return new URL(url).href;
}

/** `--acme`: the directories in the order they are tried, each once; kept as written, for the logs and the storage layout. */
export function parseDirectoryList(text: string): string[] {
  const urls = parseUrlList(text);
  const seen = new Set<string>();
  for (const url of urls) {
    const key = directoryKey(url);
    if (seen.has(key)) throw new ConfigError(`'${redactUrlText(url)}' is listed twice; each CA goes in the list once`);
    seen.add(key);
  }
  return urls;
}

/** Below a second, a single slow answer would already send names to the next CA. */
export function parseFallbackAfter(text: string): number {
  const ms = parseSeconds(text);
  if (ms < 1_000) throw new ConfigError(`'${text}' is too short; a CA must be given at least 1 second before names go to the next one`);
  return ms;
}
