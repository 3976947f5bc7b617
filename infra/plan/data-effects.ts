import { KEK_SECRET_FIELD, USER_SECRET_PASSWORD_FIELD } from '@kcc-redis/client/contract';
import { type CfnResource, isRecord } from './cfn-template.js';
import type { UpdateSpec } from './update-spec.js';

/**
 * What happens to what a resource holds when it is replaced or removed:
 * - `lost`: deleted with the resource;
 * - `snapshot`: a final snapshot is kept, the replacement starts empty;
 * - `retained`: the old resource stays (no longer managed by the stack, still billed);
 * - `regenerated`: an in-place update replaces the value (a secret's generated string);
 * - `disconnected`: nothing stored is lost, but live connections are closed.
 */
export type DataFate = 'lost' | 'snapshot' | 'retained' | 'regenerated' | 'disconnected';

export interface DataEffect {
  readonly fate: DataFate;
  /** What is held, and what losing it means for the apps. */
  readonly what: string;
}

/** Fates that lose something an app needs: the plan fails on them. */
export function losesData(effect: DataEffect | undefined): boolean {
  return effect !== undefined && (effect.fate === 'lost' || effect.fate === 'regenerated');
}

/**
 * A resource that holds data leaves the stack, its data kept aside (a final snapshot, a retained
 * secret): the apps lose it all the same (a cache moved to a new generated name starts empty; a
 * key-encryption-key secret under a new logical id makes the ring in Redis unreadable), so the plan
 * fails on it too. What {@link losesData} counts is not counted again.
 */
export function setsDataAside(action: string, effect: DataEffect | undefined): boolean {
  return action === 'removed' && effect !== undefined && (effect.fate === 'snapshot' || effect.fate === 'retained');
}

type Event = 'replace' | 'remove';

const SERVERLESS_CACHE = 'AWS::ElastiCache::ServerlessCache';
const CACHE_TYPES = new Set(['AWS::ElastiCache::ReplicationGroup', SERVERLESS_CACHE, 'AWS::ElastiCache::CacheCluster']);

/**
 * The effect of replacing (`UpdateReplacePolicy`) or removing (`DeletionPolicy`) `resource`, or
 * undefined when it holds nothing. Policies: https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-deletionpolicy.html
 * and aws-attribute-updatereplacepolicy.html; the default for both is `Delete` (RDS/DocumentDB
 * clusters aside, which this stack has none of).
 */
export function dataEffect(resource: CfnResource, event: Event, spec: UpdateSpec): DataEffect | undefined {
  const held = heldData(resource, spec);
  if (!held) return undefined;
  if (held.connectionsOnly) return { fate: 'disconnected', what: held.what };
  const policy = event === 'replace' ? resource.UpdateReplacePolicy : resource.DeletionPolicy;
  if (policy === 'Retain' || policy === 'RetainExceptOnCreate') {
    return { fate: 'retained', what: `${held.what}: the old resource is kept (${String(policy)}), no longer managed by the stack` };
  }
  // A serverless cache's final snapshot is a property, not a DeletionPolicy (CloudFormation's Snapshot
  // policy does not cover the type): DeleteServerlessCache takes it when FinalSnapshotName is set.
  // https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_DeleteServerlessCache.html
  const finalSnapshot = resource.Type === SERVERLESS_CACHE && resource.Properties?.FinalSnapshotName !== undefined;
  if ((policy === 'Snapshot' || finalSnapshot) && held.snapshots) {
    const after = event === 'replace' ? '; the replacement starts empty (restore by hand)' : '';
    return { fate: 'snapshot', what: `${held.what}: a final snapshot is kept${after}` };
  }
  return { fate: 'lost', what: `${held.what}${held.deletedWith ? `; ${held.deletedWith}` : ''}` };
}

/** How much of what a resource holds each fate keeps: a replacement is promised the lesser of two. */
const KEEPS: Record<DataFate, number> = { lost: 0, regenerated: 0, disconnected: 1, snapshot: 1, retained: 2 };

/**
 * The effect of replacing a resource. CloudFormation creates the new resource, then deletes the OLD
 * physical one ("Using the UpdateReplacePolicy, you can specify that CloudFormation retain or, in some
 * cases, create a snapshot of the old resource",
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-updatereplacepolicy.html;
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-update-behaviors.html).
 * Which template's UpdateReplacePolicy it applies then, and which properties its delete handler gets
 * (a serverless cache's FinalSnapshotName, passed to DeleteServerlessCache, "Default: NULL, i.e. a
 * final snapshot is not taken", https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_DeleteServerlessCache.html),
 * neither page says, nor the template reference of AWS::ElastiCache::ServerlessCache; and an update
 * that changes only a policy is not applied (aws-cloudformation/cloudformation-coverage-roadmap#1543).
 * So when the deployed and the new template disagree, the plan promises only what both promise.
 */
export function replacementEffect(previous: CfnResource, current: CfnResource, spec: UpdateSpec): DataEffect | undefined {
  const before = dataEffect(previous, 'replace', spec);
  const after = dataEffect(current, 'replace', spec);
  if (!before || !after || before.fate === after.fate) return after ?? before;
  const kept = KEEPS[before.fate] < KEEPS[after.fate] ? before : after;
  const other = kept === before ? after : before;
  return {
    fate: kept.fate,
    what:
      `${kept.what}. The deployed template (${replacePolicyWords(previous)}) and the new one (${replacePolicyWords(current)}) differ, ` +
      `and AWS does not document which CloudFormation applies to the old resource, so the plan cannot promise "${other.fate}"; ` +
      `${keepACopy(current.Type)} before deploying if the data matters`,
  };
}

/** How an operator keeps what a resource of `type` holds, by hand. */
function keepACopy(type: string): string {
  if (CACHE_TYPES.has(type)) return 'take a snapshot by hand';
  if (type === 'AWS::SecretsManager::Secret') return 'copy the secret\'s value';
  if (type === 'AWS::Logs::LogGroup') return 'export the log group';
  return 'keep a copy of what it holds';
}

/** What decides, in one template, what replacing the resource keeps. */
function replacePolicyWords(resource: CfnResource): string {
  const policy = `UpdateReplacePolicy ${resource.UpdateReplacePolicy === undefined ? 'Delete (default)' : String(resource.UpdateReplacePolicy)}`;
  if (resource.Type !== SERVERLESS_CACHE) return policy;
  return `${policy}, ${resource.Properties?.FinalSnapshotName === undefined ? 'no FinalSnapshotName' : 'FinalSnapshotName set'}`;
}

/**
 * Changing `GenerateSecretString` of a secret updates it in place but generates a new value ("When
 * you make a change to this property, a new secret version is created",
 * https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-secretsmanager-secret.html).
 * The old value survives only as the `AWSPREVIOUS` version.
 */
export function regeneratedSecret(resource: CfnResource, changedProperties: readonly string[]): DataEffect | undefined {
  if (resource.Type !== 'AWS::SecretsManager::Secret' || !changedProperties.includes('GenerateSecretString')) return undefined;
  const generate = resource.Properties?.GenerateSecretString;
  const isPassword = isRecord(generate) && generate.GenerateStringKey === USER_SECRET_PASSWORD_FIELD;
  // A dynamic reference is resolved when the resource using it is created or updated, so an
  // ElastiCache user whose own properties do not change keeps the old password.
  const user = isPassword ? '; an ElastiCache user not updated in the same deploy keeps the old password' : '';
  return {
    fate: 'regenerated',
    what: `GenerateSecretString changed, so a new value is generated: ${secretMeaning(resource)}${user} (the old value stays only as version AWSPREVIOUS)`,
  };
}

interface Held {
  readonly what: string;
  readonly snapshots?: boolean;
  readonly deletedWith?: string;
  readonly connectionsOnly?: boolean;
}

function heldData(resource: CfnResource, spec: UpdateSpec): Held | undefined {
  const type = resource.Type;
  if (CACHE_TYPES.has(type)) {
    return {
      what: 'cached data (signing-key rings, revocation state, event logs, instance heartbeats)',
      snapshots: true,
      // "If you delete a replication group, all of the automatic backups from the clusters in that
      // group are also deleted." https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/backups-deleting.html
      deletedWith: type === SERVERLESS_CACHE ? 'no final snapshot (no FinalSnapshotName)' : 'no final snapshot, and its automatic snapshots are deleted with it',
    };
  }
  if (type === 'AWS::SecretsManager::Secret') return { what: secretMeaning(resource) };
  if (type === 'AWS::ElastiCache::User') {
    return { what: 'connections authenticated as this user are closed (instances reconnect with the current secret)', connectionsOnly: true };
  }
  if (type === 'AWS::EC2::SecurityGroup') {
    // A replacement is a new group with a new id (Fn::GetAtt GroupId); membership is by id. The
    // cache's group admits its own members, and the apps join it by the SecurityGroupId output.
    return {
      what: 'members of the old group (instances that joined it by its id, such as apps given the SecurityGroupId output) are not members of the new one: the access its rules gave them stops until they join the new group',
      connectionsOnly: true,
    };
  }
  if (type === 'AWS::Logs::LogGroup') return { what: 'its log events' };
  if (type === 'AWS::KMS::Key') return { what: 'the key: whatever it encrypted becomes unreadable once its scheduled deletion completes' };
  if (spec.isStateful(type)) return { what: 'the data it holds' };
  return undefined;
}

/** What a secret of this stack holds, recognized by the field its generated string goes to (the contract's names). */
function secretMeaning(resource: CfnResource): string {
  const generate = resource.Properties?.GenerateSecretString;
  const key = isRecord(generate) ? generate.GenerateStringKey : undefined;
  if (key === KEK_SECRET_FIELD) {
    return 'the key-encryption key: the signing-key ring stored in Redis becomes unreadable (instances must start a new ring)';
  }
  if (key === USER_SECRET_PASSWORD_FIELD) {
    return 'the generated Redis password (instances must read the new secret)';
  }
  return 'the secret value';
}
