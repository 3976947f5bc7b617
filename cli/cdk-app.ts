import { readFileSync } from 'node:fs';

/**
 * The CDK app entry's two jobs beside building the app (bin/app.ts): accept the `kcc` config given
 * on the command line, and report a config error as one clean list.
 *
 * The CDK CLI hands context to the app in `CDK_CONTEXT_JSON` (or, when large, in the file named by
 * `CONTEXT_OVERFLOW_LOCATION_ENV`), the same variables aws-cdk-lib's App reads. A value given as
 * `-c kcc='{"apps":["my-app"]}'` arrives there as a string, not an object.
 */
const CONTEXT_KEY = 'kcc';

/** The `-c kcc=…` string did not parse: the message says how to write it. */
export class KccContextError extends Error {
  readonly problems: readonly string[];
  constructor(problem: string) {
    super(problem);
    this.name = 'KccContextError';
    this.problems = [problem];
  }
}

/** The CLI's context, as aws-cdk-lib's App loads it. */
function cliContext(env: Readonly<Record<string, string | undefined>>): Record<string, unknown> {
  const fromEnv = env.CDK_CONTEXT_JSON ? (JSON.parse(env.CDK_CONTEXT_JSON) as Record<string, unknown>) : {};
  const overflow = env.CONTEXT_OVERFLOW_LOCATION_ENV;
  const fromFile = overflow ? (JSON.parse(readFileSync(overflow, 'utf8')) as Record<string, unknown>) : {};
  return { ...fromEnv, ...fromFile };
}

/**
 * The `kcc` config parsed from a command-line string (`-c kcc='<json>'`), as context for the app's
 * `postCliContext`; undefined when the config is not a string (it came from cdk.json as an object,
 * or is absent: the config parser reports that).
 *
 * @throws KccContextError when the string is not JSON.
 */
export function kccFromCommandLine(env: Readonly<Record<string, string | undefined>>): Record<string, unknown> | undefined {
  const raw = cliContext(env)[CONTEXT_KEY];
  if (typeof raw !== 'string') return undefined;
  try {
    return { [CONTEXT_KEY]: JSON.parse(raw) as unknown };
  } catch (error) {
    throw new KccContextError(
      `-c ${CONTEXT_KEY}=…: not JSON (${(error as Error).message}); quote it for the shell, e.g. -c ${CONTEXT_KEY}='{"apps":["my-app"]}'`,
    );
  }
}

/** Where the config came from, for the report's title. */
export function configOrigin(env: Readonly<Record<string, string | undefined>>): string {
  try {
    return typeof cliContext(env)[CONTEXT_KEY] === 'string' ? `-c ${CONTEXT_KEY}=…` : `cdk.json "context.${CONTEXT_KEY}"`;
  } catch {
    return `the "${CONTEXT_KEY}" context`;
  }
}

/**
 * The report of a config or props error thrown while the app is built: a title and one line per
 * problem, counted right, without a stack trace; undefined for any other error (a bug keeps its trace).
 */
export function configErrorReport(error: unknown, origin: string): string | undefined {
  const e = error as { code?: unknown; problems?: unknown; message?: unknown };
  if (!Array.isArray(e?.problems) || !e.problems.every((p) => typeof p === 'string')) return undefined;
  const problems = e.problems as string[];
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  const title =
    e.code === 'KCC_STACK_CONFIG_INVALID' || error instanceof KccContextError
      ? `Invalid kcc config (${origin})`
      : String(e.message).split('\n')[0]!.replace(/: \d+ problems?:$/, '');
  return `${title}: ${count}:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`;
}
