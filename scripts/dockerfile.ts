/** A Dockerfile read the way the tests need it: one instruction per entry, keywords upper-cased. */
export interface Instruction {
  keyword: string;
  args: string;
  /** The 1-based line the instruction starts on, for messages that point at it. */
  line: number;
}

/** Joins continuation lines and drops comments (parser directives such as `# syntax=` included). */
export function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending = '';
  let start = 0;
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === '')) continue;
    if (pending === '') start = index + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(pending + line) ?? [];
    instructions.push({ keyword: keyword.toUpperCase(), args, line: start });
    pending = '';
  }
  return instructions;
}

/**
 * Docker's .dockerignore rules as this repository uses them: a pattern is matched against the path
 * from the context root and excludes everything under a directory it matches; `*` stays within one
 * path segment, `**` crosses them. Negations are not supported (and refused, not ignored), so a
 * pattern this cannot read never makes a file look included when Docker would leave it out.
 */
export function dockerignore(text: string): (path: string) => boolean {
  const patterns = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const regexes = patterns.map((pattern) => {
    if (pattern.startsWith('!')) throw new Error(`.dockerignore: negated patterns are not implemented by the tests (${pattern})`);
    const body = pattern
      .replace(/^\/+|\/+$/g, '')
      .split('**')
      .map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))
      .join('.*');
    return new RegExp(`^${body}$`);
  });
  return (path) => {
    const parts = path.split('/');
    return parts.some((_, i) => regexes.some((re) => re.test(parts.slice(0, i + 1).join('/'))));
  };
}
