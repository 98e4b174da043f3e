/**
 * A Dockerfile lint with the rules that matter for this image, standing in for hadolint (Debian does
 * not package it, and CI installs tools only from Debian). Pure: the caller passes the file, the
 * repository's file list and .dockerignore, so the rules can be tested on deliberately bad input.
 */
import { dockerignore, parseDockerfile, type Instruction } from './dockerfile.js';

export interface LintInput {
  dockerfile: string;
  /** The repository's files, as paths from its root with `/` separators (before .dockerignore). */
  files: readonly string[];
  /** The text of .dockerignore; undefined when there is none. */
  dockerignore: string | undefined;
}

export interface Finding {
  line: number;
  rule: Rule;
  message: string;
}

export type Rule =
  | 'syntax-directive'
  | 'base-from-arg'
  | 'base-tag'
  | 'base-digest'
  | 'add'
  | 'user'
  | 'healthcheck'
  | 'copy-source'
  | 'exec-form'
  | 'apt-lists';

interface Comment {
  line: number;
  text: string;
}

const DIGEST = /@sha256:[0-9a-f]{64}$/;
const SYNTAX = /^#\s*syntax\s*=\s*docker\/dockerfile:1(\.\d+)*\s*$/;

export function lintDockerfile(input: LintInput): Finding[] {
  const lines = input.dockerfile.split('\n');
  const instructions = parseDockerfile(input.dockerfile);
  const comments: Comment[] = lines.flatMap((raw, i) => (raw.trim().startsWith('#') ? [{ line: i + 1, text: raw.trim().replace(/^#\s?/, '') }] : []));
  const findings: Finding[] = [];
  const add = (line: number, rule: Rule, message: string): void => {
    findings.push({ line, rule, message });
  };

  const froms = instructions.filter((i) => i.keyword === 'FROM');
  const finalFrom = froms.at(-1);
  if (finalFrom === undefined) {
    add(1, 'base-from-arg', 'no FROM: not a Dockerfile');
    return findings;
  }
  const finalStage = instructions.filter((i) => i.line >= finalFrom.line);
  const finalComments = comments.filter((c) => c.line > finalFrom.line);

  checkBase(instructions, froms, lines, add);

  // RUN --mount is BuildKit's Dockerfile 1.2+ syntax; without the directive an older frontend
  // refuses the file or, worse, reads the flag as part of the command.
  if (instructions.some((i) => i.keyword === 'RUN' && i.args.startsWith('--mount=')) && !SYNTAX.test(lines[0]?.trim() ?? '')) {
    add(1, 'syntax-directive', 'RUN --mount needs `# syntax=docker/dockerfile:1` as the very first line');
  }

  for (const i of instructions.filter((x) => x.keyword === 'ADD')) {
    const sources = words(i.args).filter((w) => !w.startsWith('--')).slice(0, -1);
    const url = sources.find((s) => /^(https?|git|ssh):\/\/|^git@/.test(s));
    add(
      i.line,
      'add',
      url !== undefined
        ? `ADD ${url}: a download at build time is neither pinned nor checked; fetch it in a script with a checksum`
        : 'ADD also unpacks archives and fetches URLs; use COPY for files from the context',
    );
  }

  const users = finalStage.filter((i) => i.keyword === 'USER');
  const lastUser = users.at(-1);
  if (lastUser === undefined) {
    // Running as root can be the right call (networked volumes of unknown ownership), but then the
    // file must say so, and how to drop it.
    if (!finalComments.some((c) => /\broot\b/i.test(c.text))) {
      add(finalFrom.line, 'user', 'the image runs as root: add USER, or a comment in the final stage saying why root and how to run as another user');
    }
  } else if (/^(root|0)(:|$)/.test(lastUser.args.trim())) {
    add(lastUser.line, 'user', `USER ${lastUser.args}: the image ends as root`);
  }

  if (!finalStage.some((i) => i.keyword === 'HEALTHCHECK') && !comments.some((c) => /\bHEALTHCHECK\b/.test(c.text))) {
    add(finalFrom.line, 'healthcheck', 'no HEALTHCHECK: add one, or a comment naming HEALTHCHECK that says what checks health instead');
  }

  checkCopySources(instructions, input, add);

  for (const i of instructions.filter((x) => x.keyword === 'ENTRYPOINT' || x.keyword === 'CMD')) {
    if (!isExecForm(i.args)) {
      add(i.line, 'exec-form', `${i.keyword} ${i.args}: use the exec form (a JSON array of strings), or a shell becomes PID 1 and SIGTERM never reaches the daemon`);
    }
  }

  for (const i of instructions.filter((x) => x.keyword === 'RUN')) {
    if (/\bapt(-get)?\s+(\S+\s+)*install\b/.test(i.args) && !/rm\s+-(rf|fr)\s+\/var\/lib\/apt\/lists/.test(i.args)) {
      add(i.line, 'apt-lists', 'apt-get install without `rm -rf /var/lib/apt/lists/*` in the same RUN leaves the package lists in the layer');
    }
  }
  return findings.sort((a, b) => a.line - b.line);
}

/**
 * Every FROM is an earlier stage or `${ARG}` (so both stages share one base, and a digest can be
 * given with --build-arg); the ARG's default names a tag other than latest, and carries a digest or
 * has a comment above it saying how to pin one.
 */
function checkBase(instructions: readonly Instruction[], froms: readonly Instruction[], lines: readonly string[], add: (line: number, rule: Rule, message: string) => void): void {
  const firstFrom = froms[0]?.line ?? 0;
  const globalArgs = new Map<string, Instruction>();
  for (const i of instructions) {
    if (i.keyword !== 'ARG' || i.line > firstFrom) continue;
    const name = /^([A-Za-z_][A-Za-z0-9_]*)/.exec(i.args)?.[1];
    if (name !== undefined) globalArgs.set(name, i);
  }
  const stages = new Set<string>();
  const checked = new Set<Instruction>();
  for (const from of froms) {
    const [image = '', as, stage] = words(from.args).filter((w) => !w.startsWith('--platform='));
    const fromStage = stages.has(image.toLowerCase());
    if (as?.toUpperCase() === 'AS' && stage !== undefined) stages.add(stage.toLowerCase());
    if (fromStage) continue;
    const argName = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/.exec(image)?.[1];
    const arg = argName === undefined ? undefined : globalArgs.get(argName);
    if (arg === undefined) {
      add(from.line, 'base-from-arg', `FROM ${image}: take the base image from an ARG declared before the first FROM, so every stage shares it and a digest can be pinned`);
      continue;
    }
    // Both stages name the same ARG; its value needs saying once.
    if (checked.has(arg)) continue;
    checked.add(arg);
    const value = /^[A-Za-z_][A-Za-z0-9_]*=(\S+)$/.exec(arg.args)?.[1];
    if (value === undefined) {
      add(arg.line, 'base-tag', `ARG ${arg.args}: give the base image a default`);
      continue;
    }
    const withoutDigest = value.replace(DIGEST, '');
    const tag = /:([^/:]+)$/.exec(withoutDigest)?.[1];
    if (tag === undefined || tag === 'latest') {
      add(arg.line, 'base-tag', `${value}: name an explicit tag other than latest (no tag means latest)`);
    }
    if (!DIGEST.test(value) && !commentAbove(lines, arg.line).some((text) => /\bdigest\b/i.test(text))) {
      add(arg.line, 'base-digest', `${value}: pin a digest (@sha256:...), or say in a comment above the ARG how a digest is pinned`);
    }
  }
}

/** COPY sources from the build context must be there and not left out of it by .dockerignore. */
function checkCopySources(instructions: readonly Instruction[], input: LintInput, add: (line: number, rule: Rule, message: string) => void): void {
  const ignored = input.dockerignore === undefined ? () => false : dockerignore(input.dockerignore);
  for (const i of instructions.filter((x) => x.keyword === 'COPY')) {
    const parts = words(i.args);
    if (parts.some((w) => w.startsWith('--from='))) continue;
    const sources = parts.filter((w) => !w.startsWith('--')).slice(0, -1);
    if (sources.length === 0) add(i.line, 'copy-source', `COPY ${i.args}: no source`);
    for (const source of sources) {
      const matching = input.files.filter(matcher(source));
      if (matching.length === 0) add(i.line, 'copy-source', `COPY ${source}: no such file or directory in the repository`);
      else if (matching.every(ignored)) add(i.line, 'copy-source', `COPY ${source}: .dockerignore leaves it out of the build context`);
    }
  }
}

/** Files a COPY source names: the file itself, everything under a directory, or a wildcard's matches. */
function matcher(source: string): (file: string) => boolean {
  const path = source.replace(/^\.\/+/, '').replace(/\/+$/, '');
  if (path === '' || path === '.') return () => true;
  const pattern = new RegExp(`^${path.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}(/.*)?$`);
  return (file) => pattern.test(file);
}

/** The comment lines directly above `line` (1-based), nearest last. */
function commentAbove(lines: readonly string[], line: number): string[] {
  const above: string[] = [];
  for (let i = line - 2; i >= 0 && (lines[i] ?? '').trim().startsWith('#'); i--) above.unshift((lines[i] ?? '').trim());
  return above;
}

function isExecForm(args: string): boolean {
  try {
    const value: unknown = JSON.parse(args);
    return Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string');
  } catch {
    return false;
  }
}

function words(args: string): string[] {
  return args.split(/\s+/).filter((w) => w !== '');
}
