/**
 * PEM text as OpenSSL (and so HAProxy) reads it: blocks between BEGIN and END lines, with anything
 * outside the blocks skipped. Files written by hand or by other tools carry such extras (`Bag
 * Attributes` from `openssl pkcs12`, comments, CRLF line ends), and HAProxy loads them fine, so they
 * must not make a certificate look broken here. They are reported instead, so callers can say so.
 */

export interface PemBlock {
  /** The word(s) between BEGIN and the dashes, e.g. `CERTIFICATE`, `RSA PRIVATE KEY`. */
  label: string;
  /** The block re-assembled with LF line ends and a single trailing newline. */
  pem: string;
}

export interface PemSplit {
  blocks: PemBlock[];
  /** 1-based numbers of non-blank lines outside any block. Line numbers, not text: it may be a secret. */
  strayLines: number[];
  /** Structural problems (unterminated block, END without BEGIN, bad base64). Empty when all is well. */
  errors: string[];
}

const BEGIN = /^-----BEGIN ([A-Z0-9][A-Z0-9 ]*)-----$/;
const END = /^-----END ([A-Z0-9][A-Z0-9 ]*)-----$/;
/** RFC 1421 encapsulated header, as in `Proc-Type: 4,ENCRYPTED` of traditional encrypted keys. */
const HEADER = /^[A-Za-z][A-Za-z0-9-]*:/;
const BASE64_LINE = /^[A-Za-z0-9+/=]+$/;
const BASE64_BODY = /^[A-Za-z0-9+/]*={0,2}$/;

interface OpenBlock {
  label: string;
  startLine: number;
  headers: string[];
  body: string[];
  bad: string | undefined;
}

export function splitPem(text: string): PemSplit {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  const blocks: PemBlock[] = [];
  const strayLines: number[] = [];
  const errors: string[] = [];
  let open: OpenBlock | undefined;

  const close = (block: OpenBlock): void => {
    const body = block.body.join('');
    if (block.bad !== undefined) {
      errors.push(`the ${block.label} block at line ${block.startLine} ${block.bad}`);
    } else if (body === '') {
      errors.push(`the ${block.label} block at line ${block.startLine} is empty`);
    } else if (!BASE64_BODY.test(body) || body.length % 4 !== 0) {
      errors.push(`the ${block.label} block at line ${block.startLine} is not valid base64 (truncated or edited?)`);
    } else {
      const head = block.headers.length > 0 ? `${block.headers.join('\n')}\n\n` : '';
      blocks.push({
        label: block.label,
        pem: `-----BEGIN ${block.label}-----\n${head}${block.body.join('\n')}\n-----END ${block.label}-----\n`,
      });
    }
  };

  for (const [index, raw] of lines.entries()) {
    const lineNo = index + 1;
    const line = raw.trim();
    if (open === undefined) {
      const begin = BEGIN.exec(line);
      if (begin?.[1] !== undefined) {
        open = { label: begin[1], startLine: lineNo, headers: [], body: [], bad: undefined };
      } else if (END.test(line)) {
        errors.push(`line ${lineNo} ends a block that was never begun`);
      } else if (line !== '') {
        strayLines.push(lineNo);
      }
      continue;
    }
    const end = END.exec(line);
    if (end?.[1] !== undefined) {
      if (end[1] !== open.label) open.bad ??= `ends with "END ${end[1]}" at line ${lineNo}`;
      close(open);
      open = undefined;
      continue;
    }
    const begin = BEGIN.exec(line);
    if (begin?.[1] !== undefined) {
      errors.push(`the ${open.label} block at line ${open.startLine} has no END line before the next block`);
      open = { label: begin[1], startLine: lineNo, headers: [], body: [], bad: undefined };
      continue;
    }
    if (line === '') continue;
    if (open.body.length === 0 && HEADER.test(line)) {
      open.headers.push(line);
    } else if (BASE64_LINE.test(line)) {
      open.body.push(line);
    } else {
      open.bad ??= `has a line that is not base64 (line ${lineNo})`;
    }
  }
  if (open !== undefined) {
    errors.push(`the ${open.label} block at line ${open.startLine} has no END line (truncated file?)`);
  }
  return { blocks, strayLines, errors };
}

/** Concatenates blocks the way OpenSSL writes them: no separators, each block ending in one newline. */
export function joinPem(blocks: readonly PemBlock[]): string {
  return blocks.map((b) => (b.pem.endsWith('\n') ? b.pem : `${b.pem}\n`)).join('');
}
