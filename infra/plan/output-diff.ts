import { type CfnTemplate, isRecord } from './cfn-template.js';
import { type Canonical, type ResolveScope, canonical, sameValue, uncertainty } from './intrinsics.js';
import { showValue } from './show-value.js';

/** A stack output that appears, disappears or changes. */
export interface OutputChange {
  readonly name: string;
  readonly action: 'added' | 'removed' | 'changed' | 'may-change';
  /** The export name in the deployed template, when the output is exported. */
  readonly exportName?: string;
  readonly note: string;
}

/**
 * Output changes. They update nothing by themselves, but apps that read outputs must follow, and
 * "you can't modify or remove an output value that is referenced by another stack"
 * (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/outputs-section-structure.html).
 */
export function diffOutputs(previous: CfnTemplate, current: CfnTemplate, scope: ResolveScope): OutputChange[] {
  const before = previous.Outputs ?? {};
  const after = current.Outputs ?? {};
  const changes: OutputChange[] = [];
  for (const [name, output] of Object.entries(after)) {
    if (!(name in before)) {
      changes.push({ name, action: 'added', ...exported(output), note: 'new output' });
      continue;
    }
    const oldValue = canonical(field(before[name], 'Value'), { ...scope, side: 'previous' });
    const newValue = canonical(field(output, 'Value'), scope);
    const oldExport = exportName(before[name]);
    const newExport = exportName(output);
    const parts: string[] = [];
    let unsure: string | undefined;
    if (!sameValue(oldValue, newValue)) {
      unsure = uncertainty(oldValue, newValue);
      parts.push(unsure ? `may change (${unsure})` : `${showValue([name], oldValue)} → ${showValue([name], newValue)}`);
    }
    if (oldExport !== newExport) parts.push(`export ${oldExport ?? '(none)'} → ${newExport ?? '(none)'}`);
    if (parts.length === 0) continue;
    const action = unsure && parts.length === 1 ? 'may-change' : 'changed';
    changes.push({ name, action, ...exported(before[name]), note: parts.join('; ') + importNote(before[name]) });
  }
  for (const [name, output] of Object.entries(before)) {
    if (!(name in after)) changes.push({ name, action: 'removed', ...exported(output), note: `apps reading it must follow${importNote(output)}` });
  }
  return changes;
}

function field(output: unknown, key: string): unknown {
  return isRecord(output) ? output[key] : undefined;
}

function exportName(output: unknown): string | undefined {
  const exportField = field(output, 'Export');
  const name = isRecord(exportField) ? exportField.Name : undefined;
  return name === undefined ? undefined : typeof name === 'string' ? name : showValue([], name as Canonical);
}

function exported(output: unknown): { exportName?: string } {
  const name = exportName(output);
  return name === undefined ? {} : { exportName: name };
}

function importNote(output: unknown): string {
  return exportName(output) === undefined ? '' : '; CloudFormation refuses this while another stack imports the export';
}
