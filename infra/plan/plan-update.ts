import type { CfnResource, CfnTemplate } from './cfn-template.js';
import { type DataEffect, dataEffect, losesData, regeneratedSecret, replacementEffect, setsDataAside } from './data-effects.js';
import { UNORDERED_PROPERTIES, cautions, refusal, resolveMaybe } from './documented-rules.js';
import { type Canonical, type ResolveScope, canonical, renewedTargets, sameValue, uncertainty } from './intrinsics.js';
import { type OutputChange, diffOutputs } from './output-diff.js';
import { type UpdateSpec, rank } from './update-spec.js';
import { type ValueChange, diffValues, formatPath } from './value-diff.js';
import { showValue } from './show-value.js';

/** What CloudFormation does with one logical id. */
export type ChangeAction = 'added' | 'removed' | 'in-place' | 'may-replace' | 'replaced' | 'blocked';

/** One changed property and what it causes. */
export interface PropertyCause {
  /** Path of the changed property, e.g. `ReplicasPerNodeGroup` or `Code.S3Key`. */
  readonly property: string;
  readonly effect: 'in-place' | 'may-replace' | 'replace';
  /** Values and the reason, in words. */
  readonly reason: string;
}

export interface ResourceChange {
  readonly logicalId: string;
  readonly type: string;
  readonly action: ChangeAction;
  readonly causes: readonly PropertyCause[];
  /** Why CloudFormation cannot do it (custom name kept, a change the service refuses). */
  readonly blockedBecause?: string;
  /** What the change does to what the resource holds. */
  readonly data?: DataEffect;
  /** Changes that cause no update by themselves (policies, dependencies). */
  readonly notes: readonly string[];
}

export interface UpdatePlan {
  /** Format version of this object (also the `--json` output). */
  readonly v: 1;
  readonly changes: readonly ResourceChange[];
  readonly outputs: readonly OutputChange[];
  /** Replacements (certain or possible), blocked updates and data losses: the update is not safe when there is one. */
  readonly findings: number;
}

const CUSTOM_RESOURCE = /^(Custom::|AWS::CloudFormation::CustomResource$)/;
/** CDK asset object keys and hashes: a 64-hex content hash, optionally with an extension. */
const ASSET_HASH = /(^|\/)[0-9a-f]{64}(\.[a-z]+)?$/;

/**
 * Compares the deployed template with the one about to be deployed and tells, per logical id, what
 * CloudFormation will do: add, remove, update in place, replace, or fail (blocked). Replacement
 * comes from the service spec (create-only properties); a resource that gets a new physical id
 * changes every value that references it, so the evaluation repeats until nothing new is replaced.
 */
export function planUpdate(previous: CfnTemplate, current: CfnTemplate, spec: UpdateSpec): UpdatePlan {
  const before = previous.Resources;
  const after = current.Resources;
  const added = Object.keys(after).filter((id) => !(id in before));
  const removed = Object.keys(before).filter((id) => !(id in after));
  const common = Object.keys(after).filter((id) => id in before);

  let scope: ResolveScope = { side: 'current', renewed: new Set(added), mayRenew: new Set(), updated: new Set() };
  let evaluated = new Map<string, ResourceChange | undefined>();
  for (let round = 0; round <= common.length; round++) {
    evaluated = new Map(common.map((id) => [id, evaluateResource(id, before[id]!, after[id]!, scope, spec, before)]));
    // A blocked resource counts as what CloudFormation would try: a replacement when a cause replaces
    // it (a kept custom name), else an in-place update the service refuses, which keeps its physical id.
    const blocked = idsWith(evaluated, ['blocked']);
    const replacing = (id: string) => evaluated.get(id)?.causes.some((c) => c.effect === 'replace') === true;
    const next: ResolveScope = {
      side: 'current',
      renewed: new Set([...added, ...idsWith(evaluated, ['replaced']), ...blocked.filter(replacing)]),
      mayRenew: new Set(idsWith(evaluated, ['may-replace'])),
      updated: new Set([...idsWith(evaluated, ['in-place']), ...blocked.filter((id) => !replacing(id))]),
    };
    if (sameSets(next, scope)) break;
    scope = next;
  }

  const changes: ResourceChange[] = [];
  for (const id of Object.keys(after)) {
    if (id in before) {
      const change = evaluated.get(id);
      if (change) changes.push(change);
    } else {
      changes.push(addedResource(id, after[id]!, before, removed, spec));
    }
  }
  for (const id of removed) {
    const resource = before[id]!;
    const data = dataEffect(resource, 'remove', spec);
    changes.push({ logicalId: id, type: resource.Type, action: 'removed', causes: [], notes: [], ...(data ? { data } : {}) });
  }

  const findings = changes.filter((c) => c.action === 'replaced' || c.action === 'blocked' || c.action === 'may-replace' || losesData(c.data) || setsDataAside(c.action, c.data)).length;
  return { v: 1, changes, outputs: diffOutputs(previous, current, scope), findings };
}

function evaluateResource(
  id: string,
  previous: CfnResource,
  current: CfnResource,
  scope: ResolveScope,
  spec: UpdateSpec,
  deployed: CfnTemplate['Resources'],
): ResourceChange | undefined {
  const notes = attributeNotes(previous, current);
  if (previous.Type !== current.Type) {
    // CloudFormation refuses the whole change set: "Update of resource type is not permitted. The new
    // template modifies resource type of the following resources: [...]" (as reported in
    // https://github.com/aws/aws-sam-cli/issues/6786). Nothing is created or deleted.
    return {
      logicalId: id, type: current.Type, action: 'blocked', notes,
      causes: [{ property: 'Type', effect: 'replace', reason: `${previous.Type} → ${current.Type}: a new resource under the same logical id` }],
      blockedBecause: `the type changes (${previous.Type} → ${current.Type}): CloudFormation does not change a resource's type under the same logical id ("Update of resource type is not permitted"); deploy a new stack`,
    };
  }
  const type = current.Type;
  const old = canonical(previous.Properties ?? {}, { ...scope, side: 'previous' }) as Record<string, Canonical>;
  const now = canonical(current.Properties ?? {}, scope) as Record<string, Canonical>;
  const causes = diffValues(old, inOrderOf(type, old, now)).map((leaf) => classify(type, leaf, current, spec));
  if (causes.length === 0) return notes.length > 0 ? { logicalId: id, type, action: 'in-place', causes, notes } : undefined;
  notes.push(...cautions(type, previous, current));

  const strongest = causes.reduce((a, c) => Math.max(a, effectRank(c.effect)), 0);
  let action: ChangeAction = strongest === 2 ? 'replaced' : strongest === 1 ? 'may-replace' : 'in-place';
  const reasons = [action === 'replaced' ? keptCustomName(type, old, now, spec) : undefined, refusal(type, previous, current, { resources: deployed, id })];
  const blockedBecause = reasons.filter((r): r is string => r !== undefined).join('; ') || undefined;
  if (blockedBecause) action = 'blocked';

  let data: DataEffect | undefined;
  if (action === 'replaced' || action === 'may-replace') data = replacementEffect(previous, current, spec);
  if (action === 'in-place') data = regeneratedSecret(current, causes.map((c) => c.property.split(/[.[]/)[0]!));
  if (action === 'may-replace' && data) data = { ...data, what: `if replaced: ${data.what}` };
  const mayBlock = action === 'may-replace' ? keptCustomName(type, old, now, spec) : undefined;
  if (mayBlock) notes.push(`if replaced, it is blocked: ${mayBlock}`);
  return { logicalId: id, type, action, causes, notes, ...(blockedBecause ? { blockedBecause } : {}), ...(data ? { data } : {}) };
}

function classify(type: string, leaf: ValueChange, current: CfnResource, spec: UpdateSpec): PropertyCause {
  const property = formatPath(leaf.path);
  const values = `${showValue(leaf.path, leaf.previous)} → ${showValue(leaf.path, leaf.current)}`;
  const unsure = uncertainty(leaf.previous, leaf.current);
  const renewed = renewedTargets(leaf.current);
  const origin = unsure ? `may change (${unsure})` : renewed.length > 0 ? `changes: ${renewed.join(', ')} gets a new physical id` : values;

  if (isAssetHash(leaf.previous) && isAssetHash(leaf.current)) {
    return { property, effect: 'in-place', reason: 'code changes in place (asset hash; a synth without bundling always differs)' };
  }
  const behaviour = spec.behaviourAt(type, leaf.path);
  if (!behaviour) {
    if (CUSTOM_RESOURCE.test(type)) return { property, effect: 'in-place', reason: `${origin}; custom resource: its provider handles the update` };
    const unknown = spec.knows(type) ? `${String(leaf.path[0])} is not in the service spec` : `${type} is not in the service spec`;
    return { property, effect: 'may-replace', reason: `${origin}; ${unknown}` };
  }
  let replacement = behaviour.replacement;
  let why =
    replacement === 'yes' ? `create-only (${behaviour.decidedBy})`
    : replacement === 'maybe' ? `replacement depends on conditions (${behaviour.decidedBy})`
    : behaviour.corrected ? `updates in place (${behaviour.corrected})`
    : 'updates in place';
  if (replacement === 'maybe') {
    const resolved = resolveMaybe(type, behaviour.decidedBy, current);
    if (resolved) [replacement, why] = [resolved.replacement, resolved.because];
  }
  let effect: PropertyCause['effect'] = replacement === 'yes' ? 'replace' : replacement === 'maybe' ? 'may-replace' : 'in-place';
  if (effect === 'replace' && unsure) effect = 'may-replace';
  return { property, effect, reason: `${origin}; ${why}` };
}

/** Why a replacement cannot happen because a name property keeps its value, or undefined. */
function keptCustomName(type: string, old: Record<string, Canonical>, now: Record<string, Canonical>, spec: UpdateSpec): string | undefined {
  for (const name of spec.nameProperties(type)) {
    const before = old[name];
    const after = now[name];
    if (before !== undefined && after !== undefined && sameValue(before, after)) {
      return `${name} ${showValue([name], after)} is a custom name: CloudFormation cannot create the replacement beside the existing resource (give it a new name, or recreate the stack)`;
    }
  }
  return undefined;
}

function addedResource(id: string, resource: CfnResource, before: CfnTemplate['Resources'], removed: readonly string[], spec: UpdateSpec): ResourceChange {
  // New resources are created before removed ones are deleted (in the cleanup phase), so a name
  // still held by a removed resource of the same type is taken when the new one is created.
  const scope: ResolveScope = { side: 'previous', renewed: new Set(), mayRenew: new Set(), updated: new Set() };
  const now = canonical(resource.Properties ?? {}, scope) as Record<string, Canonical>;
  for (const other of removed) {
    const old = before[other]!;
    if (old.Type !== resource.Type) continue;
    const then = canonical(old.Properties ?? {}, scope) as Record<string, Canonical>;
    for (const name of spec.nameProperties(resource.Type)) {
      if (now[name] !== undefined && then[name] !== undefined && sameValue(now[name]!, then[name]!)) {
        return {
          logicalId: id, type: resource.Type, action: 'blocked', causes: [], notes: [],
          blockedBecause: `${name} ${showValue([name], now[name])} still belongs to ${other}, which CloudFormation deletes only after creating ${id}`,
        };
      }
    }
  }
  return { logicalId: id, type: resource.Type, action: 'added', causes: [], notes: [] };
}

function attributeNotes(previous: CfnResource, current: CfnResource): string[] {
  const notes: string[] = [];
  for (const attribute of ['DeletionPolicy', 'UpdateReplacePolicy', 'UpdatePolicy', 'Condition'] as const) {
    const a = previous[attribute];
    const b = current[attribute];
    if (JSON.stringify(a) !== JSON.stringify(b)) notes.push(`${attribute}: ${JSON.stringify(a) ?? '(none)'} → ${JSON.stringify(b) ?? '(none)'}`);
  }
  return notes;
}

function isAssetHash(value: Canonical | undefined): boolean {
  return typeof value === 'string' && ASSET_HASH.test(value);
}

function effectRank(effect: PropertyCause['effect']): number {
  return rank(effect === 'replace' ? 'yes' : effect === 'may-replace' ? 'maybe' : 'no');
}

function idsWith(evaluated: ReadonlyMap<string, ResourceChange | undefined>, actions: readonly ChangeAction[]): string[] {
  return [...evaluated].filter(([, c]) => c !== undefined && actions.includes(c.action)).map(([id]) => id);
}

function sameSets(a: ResolveScope, b: ResolveScope): boolean {
  const same = (x: ReadonlySet<string>, y: ReadonlySet<string>) => x.size === y.size && [...x].every((v) => y.has(v));
  return same(a.renewed, b.renewed) && same(a.mayRenew, b.mayRenew) && same(a.updated, b.updated);
}

/**
 * `now` with each list whose order CloudFormation ignores ({@link UNORDERED_PROPERTIES}) in the order
 * of `old` when it holds the same items: a reordered list is no change (a serverless cache's
 * `SubnetIds`, create-only, was reported blocked for its order alone).
 */
function inOrderOf(type: string, old: Record<string, Canonical>, now: Record<string, Canonical>): Record<string, Canonical> {
  const unordered = UNORDERED_PROPERTIES[type] ?? [];
  const key = (item: Canonical) => JSON.stringify(item);
  let result = now;
  for (const name of unordered) {
    const [before, after] = [old[name], now[name]];
    if (!Array.isArray(before) || !Array.isArray(after) || before.length !== after.length) continue;
    const sorted = (items: readonly Canonical[]) => items.map(key).sort().join('\n');
    if (sorted(before) === sorted(after)) result = { ...result, [name]: before };
  }
  return result;
}
