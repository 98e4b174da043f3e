/** A Dockerfile read the way the tests need it: one instruction per entry, keywords upper-cased. */
export interface Instruction {
  keyword: string;
  args: string;
}

/** Joins continuation lines and drops comments (parser directives such as `# syntax=` included). */
export function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === '')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(pending + line) ?? [];
    instructions.push({ keyword: keyword.toUpperCase(), args });
    pending = '';
  }
  return instructions;
}
