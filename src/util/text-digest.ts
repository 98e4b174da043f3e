import { createHash } from 'node:crypto';

/**
 * A short stand-in for a file's text, for "has it changed since the last write?". Keeping the last
 * text itself would hold megabytes (state.json and delivery.json of 5,000 certificates are 1.5–2 MB
 * each) in the heap for the whole life of the daemon, and the collector sizes the heap by what is
 * live; hashing them costs a few milliseconds per write.
 */
export function textDigest(text: string): string {
  return createHash('sha256').update(text).digest('base64');
}
