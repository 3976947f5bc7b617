import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parseTemplate } from './cfn-template.js';
import { KccPlanError } from './plan-errors.js';
import { renderPlanTable } from './plan-report.js';
import { PLAN_OPTIONS } from './plan-options.js';
import { planUpdate } from './plan-update.js';
import { synthesizeCurrent } from './synthesize-current.js';
import { loadUpdateSpec } from './update-spec.js';

export const PLAN_USAGE = `Usage: kcc-redis plan --previous <template> [--config <cdk.json>] [--json]

Compares the deployed template with a fresh synth of the current config and tells, per resource,
what CloudFormation will do: add, remove, update in place, replace, or fail (blocked), which
property causes it, and what data a replacement or removal loses. Nothing is deployed; no AWS
call is made.

Options:
  --previous <file>  The deployed template: JSON or YAML, e.g. from
                       aws cloudformation get-template --stack-name <stack> \\
                         --query TemplateBody --output json > previous.json
                     or the template you kept at deploy time (cdk.out holds the last synth,
                     not necessarily the last deploy).
  --config <file>    The cdk.json to synthesize (default: ./cdk.json); cdk.context.json beside
                     it supplies cached lookups.
  --json             Print the plan as JSON (format version 1) instead of a table; a failure
                     too, as {"v": 1, "command": "plan", "exitCode": 2, "error": "…"}.
  -h, --help         Show this help.

Exit codes: 0 nothing replaced, blocked or lost; 1 replacements, blocked updates or data loss
found; 2 usage or input error (unreadable file, not a template, config that does not synthesize).`;

/** Where the command reads and writes; the CLI passes the process's streams, tests their own. */
export interface PlanIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Whether stdout is a terminal (colors only then). */
  readonly isTTY: boolean;
  /** Environment, for NO_COLOR (https://no-color.org). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

export function processIo(): PlanIo {
  return {
    stdout: (text) => process.stdout.write(`${text}\n`),
    stderr: (text) => process.stderr.write(`${text}\n`),
    isTTY: process.stdout.isTTY === true,
    env: process.env,
  };
}

/**
 * `kcc-redis plan`: parses its arguments (everything after `plan`), plans, prints, and returns the
 * exit code: 0 safe, 1 findings, 2 usage or input error. With `--json`, a failure prints a document
 * too (`{ "v": 1, "command": "plan", "exitCode": 2, "error" }`, as every command of the CLI), so a
 * script reading stdout always gets JSON; the message is on stderr as well.
 */
export async function runPlanCommand(argv: readonly string[], io: PlanIo = processIo()): Promise<number> {
  // Before parsing: a usage error must still answer in JSON when it was asked for.
  const json = argv.includes('--json');
  const fail = (message: string, usage: boolean): number => {
    io.stderr(`kcc-redis plan: ${message}${usage ? `\n\n${PLAN_USAGE}` : ''}`);
    if (json) io.stdout(JSON.stringify({ v: 1, command: 'plan', exitCode: 2, error: message }, null, 2));
    return 2;
  };
  let values: { previous?: string; config?: string; json?: boolean; help?: boolean };
  try {
    const parsed = parseArgs({
      args: [...argv],
      allowPositionals: false,
      strict: true,
      options: PLAN_OPTIONS,
    });
    values = parsed.values;
  } catch (error) {
    return fail((error as Error).message, true);
  }
  if (values.help) {
    io.stdout(PLAN_USAGE);
    return 0;
  }
  if (!values.previous) return fail('--previous <template> is required: the template of the deployed stack', true);
  try {
    const previous = parseTemplate(await readPrevious(values.previous), values.previous);
    const current = synthesizeCurrent(values.config ?? 'cdk.json');
    const plan = planUpdate(previous, current, loadUpdateSpec());
    const exitCode = plan.findings > 0 ? 1 : 0;
    if (values.json) {
      io.stdout(JSON.stringify({ ...plan, previous: values.previous, config: values.config, exitCode }, null, 2));
    } else {
      io.stdout(renderPlanTable(plan, { color: io.isTTY && !io.env.NO_COLOR }));
    }
    return exitCode;
  } catch (error) {
    if (error instanceof KccPlanError) return fail(error.message, false);
    throw error;
  }
}

async function readPrevious(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new KccPlanError('KCC_PLAN_INPUT_INVALID', `cannot read --previous ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}
