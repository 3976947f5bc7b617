/**
 * The docs keep working: every TypeScript snippet of README.md, client/README.md and docs/**
 * type-checks against the client's sources, every link leads somewhere, and every `npm run`
 * command exists. No servers, no build: the compiler runs in-process on snippets held in memory.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { linkProblems } from './link-check.js';
import { codeBlocks, docFiles, readDoc } from './markdown.js';
import { type Snippet, type SnippetProblem, typecheckSnippets } from './typecheck-snippets.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const files = docFiles(root);
const TYPESCRIPT = new Set(['ts', 'typescript']);

/** Proof that the checker can fail: a wrong type, an implicit any (strict), a missing export. */
const CANARY: Snippet = {
  file: '(canary)',
  fenceLine: 10,
  code: [
    "import { KccRedis, NoSuchExport } from '@kcc-redis/client';",
    'const notANumber: number = KccRedis;',
    'export function implicitAny(value) { return value; }',
  ].join('\n'),
};

const format = (p: SnippetProblem): string => `${p.file}:${p.line}: ${p.message}`;

describe('docs: TypeScript snippets type-check (strict, against the client sources)', () => {
  let problems: SnippetProblem[] = [];
  beforeAll(() => {
    const snippets = files.flatMap((file) =>
      codeBlocks(readDoc(root, file))
        .filter((block) => TYPESCRIPT.has(block.lang))
        .map((block): Snippet => ({ file, fenceLine: block.fenceLine, code: block.code })),
    );
    problems = typecheckSnippets(root, [...snippets, CANARY]);
  }, 120_000);

  it('the checker reports a broken snippet with its Markdown line and the diagnostic', () => {
    const canary = problems.filter((p) => p.file === CANARY.file).map(format);
    expect(canary).toEqual([
      expect.stringMatching(/^\(canary\):11: TS2305: Module '"@kcc-redis\/client"' has no exported member 'NoSuchExport'/),
      expect.stringMatching(/^\(canary\):12: TS2322: Type 'typeof KccRedis' is not assignable to type 'number'/),
      expect.stringMatching(/^\(canary\):13: TS7006: Parameter 'value' implicitly has an 'any' type/),
    ]);
  });

  it('the tsconfig options are valid', () => {
    expect(problems.filter((p) => p.file === 'tsconfig.json').map(format)).toEqual([]);
  });

  it.each(files)('%s: every ```ts snippet compiles', (file) => {
    expect(problems.filter((p) => p.file === file).map(format), `snippets of ${file} do not compile`).toEqual([]);
  });
});

describe('docs: links', () => {
  it.each(files.filter((file) => file !== 'client/README.md'))('%s: every relative link and anchor exists', (file) => {
    const problems = linkProblems(root, file, readDoc(root, file));
    expect(problems.map((p) => `${file}:${p.line}: (${p.target}) ${p.problem}`)).toEqual([]);
  });

  it('client/README.md (shown alone by npm): absolute links only; those into the repository exist', () => {
    const file = 'client/README.md';
    const problems = linkProblems(root, file, readDoc(root, file), { absoluteOnly: true });
    expect(problems.map((p) => `${file}:${p.line}: (${p.target}) ${p.problem}`)).toEqual([]);
  });

  it('the link checker reports a missing file, a missing anchor and a relative link where absolute ones are due', () => {
    const markdown = ['# Title', '', '[ok](#title) [gone](docs/no-such-page.md) [bad](#no-such-heading)', '[rel](README.md)'].join('\n');
    expect(linkProblems(root, 'README.md', markdown).map((p) => p.target)).toEqual(['docs/no-such-page.md', '#no-such-heading']);
    expect(linkProblems(root, 'README.md', markdown, { absoluteOnly: true }).map((p) => p.target)).toEqual([
      '#title', 'docs/no-such-page.md', '#no-such-heading', 'README.md',
    ]);
  });
});

describe('docs: commands and code blocks', () => {
  const scripts = Object.keys((JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts);

  it.each(files)('%s: every `npm run <script>` is a script of package.json', (file) => {
    const used = [...readDoc(root, file).matchAll(/npm run ([a-z][\w-]*(?::[\w-]+)*)/g)].map((m) => m[1]!);
    expect(used.filter((name) => !scripts.includes(name))).toEqual([]);
  });

  it.each(files)('%s: every fenced block names its language (so no TypeScript escapes the check)', (file) => {
    const bare = codeBlocks(readDoc(root, file)).filter((block) => block.lang === '').map((block) => `${file}:${block.fenceLine}`);
    expect(bare).toEqual([]);
  });

  it('README.md stays a front page: under 250 lines, reference in docs/', () => {
    expect(readDoc(root, 'README.md').split('\n').length).toBeLessThanOrEqual(250);
  });
});
