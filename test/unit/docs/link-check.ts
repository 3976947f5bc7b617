/**
 * Checks the links of a Markdown file against the repository: a relative link must name a file or
 * folder that exists, and its `#anchor`, if any, a heading of that Markdown file. Links into the
 * repository's own GitHub URL (as client/README.md uses, since npm shows it alone) are checked the
 * same way; other absolute links are not followed.
 */
import { existsSync, statSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { folderOf, headingAnchors, links, readDoc } from './markdown.js';

/** The repository's public URL. A placeholder until the lead confirms it (package.json has no `repository` yet). */
export const REPOSITORY_URL = 'https://github.com/kcc-redis/kcc-redis';
const REPOSITORY_FILE = new RegExp(`^${REPOSITORY_URL.replace(/[.]/g, '\\.')}/(?:blob|tree)/main/([^#?]*)(#.*)?$`);

export interface LinkProblem {
  readonly line: number;
  readonly target: string;
  readonly problem: string;
}

export interface LinkCheckOptions {
  /** Refuse relative links (a README shown on its own, e.g. by npm). @default false */
  readonly absoluteOnly?: boolean;
}

/** What is wrong with each link of `file` (relative to `root`) whose text is `markdown`. */
export function linkProblems(root: string, file: string, markdown: string, options: LinkCheckOptions = {}): LinkProblem[] {
  const problems: LinkProblem[] = [];
  for (const { target, line } of links(markdown)) {
    const fail = (problem: string) => problems.push({ line, target, problem });
    let path: string;
    let anchor: string | undefined;
    const inRepository = REPOSITORY_FILE.exec(target);
    if (inRepository) {
      path = decodeURIComponent(inRepository[1]!);
      anchor = inRepository[2]?.slice(1);
    } else if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
      continue; // https:, mailto: … outside the repository: not followed
    } else {
      if (options.absoluteOnly) {
        fail(`relative link in a file shown on its own: use ${REPOSITORY_URL}/blob/main/…`);
        continue;
      }
      const [pathPart = '', anchorPart] = target.split('#', 2);
      anchor = anchorPart;
      path = pathPart === '' ? file : normalize(join(folderOf(file), decodeURIComponent(pathPart))).split('\\').join('/');
    }
    if (path.startsWith('..')) {
      fail('points outside the repository');
      continue;
    }
    const absolute = join(root, path);
    if (!existsSync(absolute)) {
      fail(`${path} does not exist`);
      continue;
    }
    if (anchor === undefined || anchor === '') continue;
    if (!path.endsWith('.md') || statSync(absolute).isDirectory()) {
      fail(`#${anchor}: anchors are only checked in Markdown files; link the file`);
      continue;
    }
    const text = path === file ? markdown : readDoc(root, path);
    if (!headingAnchors(text).has(anchor)) fail(`${path} has no heading with anchor #${anchor}`);
  }
  return problems;
}
