/**
 * Just enough Markdown reading to check our docs: fenced code blocks, inline links, headings and
 * their GitHub anchors. Not a Markdown parser: it knows the constructs our docs use.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

/** A fenced code block (```lang … ```). */
export interface CodeBlock {
  /** The info string's first word, lowercased (`ts`, `sh`, …); '' when the fence has none. */
  readonly lang: string;
  /** 1-based line of the opening fence. */
  readonly fenceLine: number;
  /** The lines between the fences. */
  readonly code: string;
}

/** An inline link `[text](target)` outside code. */
export interface Link {
  readonly target: string;
  /** 1-based line it is on. */
  readonly line: number;
}

/** The Markdown files whose code and links we check: README.md, docs/**, client/README.md. */
export function docFiles(root: string): string[] {
  const docs = readdirSync(join(root, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.md'))
    .map((name) => join('docs', name));
  return ['README.md', 'client/README.md', ...docs.sort()];
}

export function readDoc(root: string, file: string): string {
  return readFileSync(join(root, file), 'utf8');
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/;

/** Every fenced block, in order. An unclosed fence runs to the end of the file. */
export function codeBlocks(markdown: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) continue;
    const marker = open[2]!;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j]!;
      if (line.trim().startsWith(marker) && line.trim().replace(/[`~]/g, '') === '') break;
      body.push(line);
    }
    blocks.push({ lang: open[3]!.toLowerCase(), fenceLine: i + 1, code: body.join('\n') });
    i = j;
  }
  return blocks;
}

/** The lines that are prose (not inside a fenced block), with their 1-based numbers. */
function proseLines(markdown: string): { text: string; line: number }[] {
  const lines = markdown.split('\n');
  const inCode = new Set<number>();
  for (const block of codeBlocks(markdown)) {
    const end = block.fenceLine + block.code.split('\n').length + 1;
    for (let n = block.fenceLine; n <= end; n++) inCode.add(n);
  }
  return lines.map((text, i) => ({ text, line: i + 1 })).filter(({ line }) => !inCode.has(line));
}

/** Inline code spans are not links: `[a](b)` inside backticks is left alone. */
const withoutCodeSpans = (text: string): string => text.replace(/`[^`]*`/g, (span) => ' '.repeat(span.length));

/** Every inline link target outside code (images included). */
export function links(markdown: string): Link[] {
  const found: Link[] = [];
  for (const { text, line } of proseLines(markdown)) {
    for (const match of withoutCodeSpans(text).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      found.push({ target: match[1]!, line });
    }
  }
  return found;
}

/**
 * GitHub's anchor for a heading: the rendered text lowercased, punctuation other than `-` and `_`
 * removed, spaces turned into `-`; a repeated anchor gets `-1`, `-2`, ….
 */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of proseLines(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (!heading) continue;
    const rendered = heading[1]!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1') // links: their text
      .replace(/[`*]/g, ''); // code spans and emphasis markers
    const slug = rendered.toLowerCase().replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

/** `docs/a.md` → `docs`, for resolving a link relative to the file it is in. */
export function folderOf(file: string): string {
  const parts = file.split('/');
  return parts.slice(0, -1).join('/') || '.';
}

/** A path relative to the repository root, with forward slashes. */
export function repoPath(root: string, absolute: string): string {
  return relative(root, absolute).split('\\').join('/');
}
