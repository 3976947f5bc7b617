import { losesData, setsDataAside } from './data-effects.js';
import type { ChangeAction, ResourceChange, UpdatePlan } from './plan-update.js';

/** Severity order of the table (most urgent first) and each action's label. */
const ACTIONS: readonly { action: ChangeAction; label: string; color: Color }[] = [
  { action: 'blocked', label: 'BLOCKED', color: 'red' },
  { action: 'replaced', label: 'REPLACE', color: 'red' },
  { action: 'may-replace', label: 'MAY REPLACE', color: 'yellow' },
  { action: 'removed', label: 'REMOVE', color: 'yellow' },
  { action: 'in-place', label: 'IN PLACE', color: 'none' },
  { action: 'added', label: 'ADD', color: 'green' },
];

type Color = 'red' | 'yellow' | 'green' | 'dim' | 'none';
const ANSI: Record<Color, string> = { red: '\u001b[31m', yellow: '\u001b[33m', green: '\u001b[32m', dim: '\u001b[2m', none: '' };

export interface ReportOptions {
  /** ANSI colors (only when writing to a terminal). */
  readonly color: boolean;
}

/**
 * The plan as a table: one row per changed resource (change, logical id, type), the causes and data
 * effects on the rows below it, then output changes and a one-line verdict.
 */
export function renderPlanTable(plan: UpdatePlan, options: ReportOptions): string {
  const paint = (color: Color, text: string) => (options.color && color !== 'none' ? `${ANSI[color]}${text}\u001b[0m` : text);
  const rows = ACTIONS.flatMap(({ action, label, color }) =>
    plan.changes.filter((c) => c.action === action).map((c) => ({ change: c, label, color })));
  const lines: string[] = [];
  if (rows.length === 0) {
    lines.push('No resource changes.');
  } else {
    const idWidth = Math.max('RESOURCE'.length, ...rows.map((r) => r.change.logicalId.length));
    const typeWidth = Math.max('TYPE'.length, ...rows.map((r) => r.change.type.length));
    const labelWidth = Math.max(...ACTIONS.map((a) => a.label.length));
    const indent = ' '.repeat(labelWidth + idWidth + typeWidth + 6);
    lines.push(`${'CHANGE'.padEnd(labelWidth)}  ${'RESOURCE'.padEnd(idWidth)}  ${'TYPE'.padEnd(typeWidth)}  DETAILS`);
    for (const { change, label, color } of rows) {
      const details = detailLines(change);
      const head = `${paint(color, label.padEnd(labelWidth))}  ${change.logicalId.padEnd(idWidth)}  ${change.type.padEnd(typeWidth)}  `;
      details.forEach((detail, i) => {
        const text = detail.color ? paint(detail.color, detail.text) : detail.text;
        lines.push(`${i === 0 ? head : indent}${text}`.trimEnd());
      });
    }
  }
  if (plan.outputs.length > 0) {
    lines.push('', 'Outputs:');
    const width = Math.max(...plan.outputs.map((o) => o.name.length));
    for (const output of plan.outputs) lines.push(`  ${output.action.padEnd(10)} ${output.name.padEnd(width)}  ${output.note}`);
  }
  lines.push('', verdict(plan, paint));
  return lines.join('\n');
}

function detailLines(change: ResourceChange): { text: string; color?: Color }[] {
  const lines: { text: string; color?: Color }[] = change.causes.map((cause) => ({ text: `${cause.property}: ${cause.reason}` }));
  if (change.blockedBecause) lines.push({ text: `blocked: ${change.blockedBecause}`, color: 'red' });
  if (change.data) {
    const lost = losesData(change.data);
    lines.push({ text: `data ${change.data.fate}: ${change.data.what}`, color: lost ? 'red' : 'dim' });
  }
  for (const note of change.notes) lines.push({ text: `note: ${note}`, color: 'dim' });
  if (lines.length === 0) lines.push({ text: '' });
  return lines;
}

function verdict(plan: UpdatePlan, paint: (color: Color, text: string) => string): string {
  const count = (action: ChangeAction) => plan.changes.filter((c) => c.action === action).length;
  const losses = plan.changes.filter((c) => losesData(c.data)).length;
  if (plan.findings === 0) return paint('green', `Safe to deploy: ${summary(plan)}; nothing replaced, blocked or lost.`);
  const parts = [
    [count('blocked'), 'blocked (CloudFormation would fail and roll back)'],
    [count('replaced'), 'replaced'],
    [count('may-replace'), 'may be replaced'],
    [losses, 'lose data'],
    [plan.changes.filter((c) => setsDataAside(c.action, c.data)).length, 'removed with what they hold, kept aside where the apps no longer find it'],
  ] as const;
  const found = parts.filter(([n]) => n > 0).map(([n, text]) => `${n} ${text}`).join(', ');
  return paint('red', `Not safe to deploy as is: ${found} (${summary(plan)}).`);
}

function summary(plan: UpdatePlan): string {
  const n = plan.changes.length;
  return `${n} resource change${n === 1 ? '' : 's'}`;
}
