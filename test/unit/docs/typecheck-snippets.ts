/**
 * Type-checks TypeScript snippets of the docs with the TypeScript compiler API, as modules of the
 * repository: each snippet becomes a file in a folder inside the repository (served from memory,
 * never written), so `@kcc-redis/client…` resolves through node_modules under the repository's
 * `kcc-redis-source` condition, with tsconfig.json's options and `strict`.
 */
import { join } from 'node:path';
import ts from 'typescript';

/** A TypeScript block of a Markdown file. */
export interface Snippet {
  /** The Markdown file, relative to the repository root. */
  readonly file: string;
  /** 1-based line of the opening fence in that file. */
  readonly fenceLine: number;
  readonly code: string;
}

/** One compiler diagnostic, located in the Markdown file. */
export interface SnippetProblem {
  readonly file: string;
  /** 1-based line in the Markdown file. */
  readonly line: number;
  /** `TS2339: Property 'x' does not exist …`, followed by the offending line. */
  readonly message: string;
}

/**
 * Where the snippet modules live (in memory only): the repository root, so that node_modules resolves
 * and a snippet's `./infra/index.js` means the repository's infra, as the docs mean it.
 */
export const SNIPPET_FOLDER = '.';

function compilerOptions(root: string): ts.CompilerOptions {
  const configFile = join(root, 'tsconfig.json');
  const read = ts.readConfigFile(configFile, (path) => ts.sys.readFile(path));
  if (read.error) throw new Error(`tsconfig.json: ${ts.flattenDiagnosticMessageText(read.error.messageText, '\n')}`);
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, root, undefined, configFile);
  return { ...parsed.options, strict: true, noEmit: true };
}

/** Type-checks every snippet in one program; resolves with every diagnostic, mapped back to the Markdown. */
export function typecheckSnippets(root: string, snippets: readonly Snippet[]): SnippetProblem[] {
  const options = compilerOptions(root);
  const modules = new Map<string, { snippet: Snippet; text: string }>();
  snippets.forEach((snippet, i) => {
    const name = `.snippet-${snippet.file.replace(/[^A-Za-z0-9]+/g, '-')}-line-${snippet.fenceLine}-${i}.ts`;
    // `export {}` makes every snippet a module (own scope, top-level await) even without imports.
    modules.set(join(root, SNIPPET_FOLDER, name), { snippet, text: `${snippet.code}\nexport {};\n` });
  });

  const host = ts.createCompilerHost(options, true);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (path) => modules.has(path) || fileExists.call(host, path);
  host.readFile = (path) => modules.get(path)?.text ?? readFile.call(host, path);
  host.getSourceFile = (path, languageVersion, onError, shouldCreate) => {
    const module = modules.get(path);
    return module ? ts.createSourceFile(path, module.text, languageVersion, true) : getSourceFile.call(host, path, languageVersion, onError, shouldCreate);
  };

  const program = ts.createProgram({ rootNames: [...modules.keys()], options, host });
  const problems: SnippetProblem[] = program.getOptionsDiagnostics().map((d) => ({
    file: 'tsconfig.json',
    line: 0,
    message: `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`,
  }));
  for (const [path, { snippet }] of modules) {
    const sourceFile = program.getSourceFile(path);
    if (!sourceFile) throw new Error(`snippet module ${path} was not loaded`);
    const diagnostics = [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)];
    for (const diagnostic of diagnostics) {
      const { line } = sourceFile.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
      const codeLine = snippet.code.split('\n')[line] ?? '';
      problems.push({
        file: snippet.file,
        line: snippet.fenceLine + 1 + line,
        message: `TS${diagnostic.code}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}\n      > ${codeLine.trim()}`,
      });
    }
  }
  return problems;
}
