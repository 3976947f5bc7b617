import type * as ElastiCache from '@aws-sdk/client-elasticache';
import { accessDifferences } from './access-rules.js';
import type { DriftItem } from './drift-item.js';
import type { DeployedState } from './elasticache-state.js';
import type { ExpectedDeployment } from './expected-deployment.js';

/** `available` in any case: the ServerlessCache reference lists its statuses in capitals (AVAILABLE, MODIFYING…), replication groups report lowercase. */
const isAvailable = (status: string | undefined) => status?.toLowerCase() === 'available';

/** What a cache of the other kind with the expected name looks like, for the "not found" finding. */
function otherKind(expected: ExpectedDeployment, state: DeployedState): string {
  const sc = state.serverlessCache;
  const rg = state.replicationGroup;
  if (expected.kind === 'replication-group' && sc) {
    return `not found; a serverless cache "${sc.ServerlessCacheName}" (${sc.Engine ?? '?'} ${sc.FullEngineVersion ?? sc.MajorEngineVersion ?? ''}) has that name: the config describes a replication group (set "deployment": "serverless" if that cache is the one)`;
  }
  if (expected.kind === 'serverless' && rg) {
    return `not found; a replication group "${rg.ReplicationGroupId}" (${rg.Engine ?? '?'}) has that name: the config describes a serverless cache ("deployment": "serverless"; remove it if that group is the one)`;
  }
  return `not found (not deployed, another region or account, or another replicationGroupId)`;
}

/** The replication group's aspects: TLS required, no AUTH token, the user group, engine and version, cluster mode. */
function replicationGroupItems(expected: ExpectedDeployment, rg: ElastiCache.ReplicationGroup, engineVersion: string | undefined): DriftItem[] {
  const resource = `replication group ${expected.cacheName}`;
  const items: DriftItem[] = [];
  const check = (aspect: string, ok: boolean, detail: string) => items.push({ resource, aspect, status: ok ? 'ok' : 'drift', detail });
  if (!isAvailable(rg.Status)) items.push({ resource, aspect: 'status', status: 'note', detail: `${rg.Status ?? 'unknown'} (not available): values may be changing` });
  check('transit encryption', rg.TransitEncryptionEnabled === true && rg.TransitEncryptionMode === 'required',
    `enabled ${String(rg.TransitEncryptionEnabled ?? false)}, mode ${rg.TransitEncryptionMode ?? 'none'}${rg.TransitEncryptionMode === 'required' ? '' : ' (expected required: TLS only)'}`);
  check('authentication', rg.AuthTokenEnabled !== true, rg.AuthTokenEnabled === true ? 'an AUTH token is enabled (expected RBAC users only)' : 'RBAC users only (no AUTH token)');
  const groups = rg.UserGroupIds ?? [];
  const groupOk = groups.length === 1 && groups[0] === expected.userGroupId;
  check('user group', groupOk, `attached: ${groups.join(', ') || 'none'}${groupOk ? '' : ` (expected ${expected.userGroupId})`}`);
  check('engine', rg.Engine === expected.engine, `${rg.Engine ?? 'unknown'}${rg.Engine === expected.engine ? '' : ` (expected ${expected.engine})`}`);
  const versionOk = engineVersion !== undefined && (engineVersion === expected.engineVersion || engineVersion.startsWith(`${expected.engineVersion}.`));
  check('engine version', versionOk, `${engineVersion ?? 'unknown'}${versionOk ? '' : ` (expected ${expected.engineVersion}.x)`}`);
  const clusterOk = (rg.ClusterEnabled === true) === expected.clusterMode;
  check('cluster mode', clusterOk, `${rg.ClusterEnabled ? 'enabled' : 'disabled'}${clusterOk ? '' : ` (expected ${expected.clusterMode ? 'enabled' : 'disabled'})`}`);
  return items;
}

/**
 * The serverless cache's aspects: the user group, engine and major version. TLS is not compared: "All
 * serverless caches have in-transit encryption enabled"
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/in-transit-encryption.html), and
 * clients always connect in cluster mode.
 */
function serverlessCacheItems(expected: ExpectedDeployment, sc: ElastiCache.ServerlessCache): DriftItem[] {
  const resource = `serverless cache ${expected.cacheName}`;
  const items: DriftItem[] = [];
  const check = (aspect: string, ok: boolean, detail: string) => items.push({ resource, aspect, status: ok ? 'ok' : 'drift', detail });
  if (!isAvailable(sc.Status)) items.push({ resource, aspect: 'status', status: 'note', detail: `${sc.Status ?? 'unknown'} (not available): values may be changing` });
  items.push({ resource, aspect: 'transit encryption', status: 'ok', detail: 'always enabled on a serverless cache' });
  const groupOk = sc.UserGroupId === expected.userGroupId;
  check('user group', groupOk, `attached: ${sc.UserGroupId ?? 'none'}${groupOk ? '' : ` (expected ${expected.userGroupId})`}`);
  check('engine', sc.Engine === expected.engine, `${sc.Engine ?? 'unknown'}${sc.Engine === expected.engine ? '' : ` (expected ${expected.engine})`}`);
  const versionOk = sc.MajorEngineVersion === expected.engineVersion;
  const shown = sc.FullEngineVersion && sc.FullEngineVersion !== sc.MajorEngineVersion ? ` (${sc.FullEngineVersion})` : '';
  check('engine version', versionOk, `${sc.MajorEngineVersion ?? 'unknown'}${shown}${versionOk ? '' : `; expected major version ${expected.engineVersion}`}`);
  return items;
}

/**
 * The deployed state against what the config would create, semantically: access strings by
 * meaning (accessDifferences), group membership as a set, the default user's state, each user's
 * authentication type, and the cache of the configured kind (replication group: transit encryption,
 * engine and version, cluster mode; serverless cache: engine and major version; both: the user
 * group attached). Statuses in flight (modifying, pending changes) are notes, not drift, except a
 * pending change of the group's members away from the config (a user joining it does not have, one
 * it has leaving).
 */
export function compareDeployment(expected: ExpectedDeployment, state: DeployedState): DriftItem[] {
  const items: DriftItem[] = [];
  const rg = expected.kind === 'replication-group' ? state.replicationGroup : undefined;
  const sc = expected.kind === 'serverless' ? state.serverlessCache : undefined;
  if (rg) items.push(...replicationGroupItems(expected, rg, state.engineVersion));
  else if (sc) items.push(...serverlessCacheItems(expected, sc));
  else items.push({ resource: `${expected.kind === 'serverless' ? 'serverless cache' : 'replication group'} ${expected.cacheName}`, aspect: 'exists', status: 'drift', detail: otherKind(expected, state) });
  // The engine that described the users' access strings: a command its version does not have is not
  // in the strings it prints (AWS's create-user example, printed by Redis 6.0, spells +@read out
  // without GEOSEARCHSTORE, added in 6.2), so the rules are evaluated on that version's commands
  // (PermissionOptions.engineVersion). The version: DescribeCacheClusters' EngineVersion of a member
  // cluster, or the serverless cache's FullEngineVersion (else MajorEngineVersion); unknown (no cache
  // of the configured kind) is the whole table.
  const engineVersion = rg ? state.engineVersion : sc ? sc.FullEngineVersion ?? sc.MajorEngineVersion : undefined;

  const groupName = `user group ${expected.userGroupId}`;
  const group = state.userGroup;
  const expectedIds = expected.users.map((u) => u.userId);
  if (!group) {
    items.push({ resource: groupName, aspect: 'exists', status: 'drift', detail: 'not found' });
  } else {
    const members = group.UserIds ?? [];
    const extra = members.filter((id) => !expectedIds.includes(id));
    const missing = expectedIds.filter((id) => !members.includes(id));
    items.push({
      resource: groupName,
      aspect: 'members',
      status: extra.length === 0 && missing.length === 0 ? 'ok' : 'drift',
      detail: [
        extra.length > 0 ? `not in the config: ${extra.join(', ')}` : '',
        missing.length > 0 ? `missing: ${missing.join(', ')}` : '',
      ].filter(Boolean).join('; ') || `${members.length} users, as configured`,
    });
    // PendingChanges (UserGroupPendingChanges: UserIdsToAdd, UserIdsToRemove, "the updates being
    // applied to the user group", https://docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_UserGroupPendingChanges.html;
    // the same names in aws-sdk-js-v3's model, @aws-sdk/client-elasticache UserGroup.PendingChanges).
    // A change on its way to what the config describes is a note; one that takes the group away from
    // it (a user the config does not have joining, one it has leaving) is drift now: once applied,
    // the members item would say so, and until then nothing else would.
    const toAdd = group.PendingChanges?.UserIdsToAdd ?? [];
    const toRemove = group.PendingChanges?.UserIdsToRemove ?? [];
    const joining = toAdd.filter((id) => !expectedIds.includes(id));
    const leaving = toRemove.filter((id) => expectedIds.includes(id));
    if (joining.length > 0 || leaving.length > 0) {
      items.push({
        resource: groupName,
        aspect: 'pending changes',
        status: 'drift',
        detail: [
          joining.length > 0 ? `being added, not in the config: ${joining.map((id) => `${id}${describeUser(state.users.get(id))}`).join(', ')}` : '',
          leaving.length > 0 ? `being removed, in the config: ${leaving.join(', ')}` : '',
        ].filter(Boolean).join('; '),
      });
    }
    const pending = [...toAdd.map((id) => `+${id}`), ...toRemove.map((id) => `-${id}`)];
    if (group.Status !== 'active' || pending.length > 0) items.push({ resource: groupName, aspect: 'status', status: 'note', detail: `${group.Status ?? 'unknown'}${pending.length > 0 ? `, pending: ${pending.join(' ')}` : ''}` });
    if (rg && !(group.ReplicationGroups ?? []).includes(expected.cacheName)) {
      items.push({ resource: groupName, aspect: 'replication groups', status: 'note', detail: `lists ${(group.ReplicationGroups ?? []).join(', ') || 'none'}` });
    }
  }

  for (const want of expected.users) {
    const name = `${want.role} ${want.userId}`;
    const user = state.users.get(want.userId);
    if (!user) {
      items.push({ resource: name, aspect: 'exists', status: 'drift', detail: 'not found' });
      continue;
    }
    const differences = accessDifferences(want.accessString, user.AccessString ?? '', { engineVersion });
    items.push({ resource: name, aspect: 'access string', status: differences.length === 0 ? 'ok' : 'drift', detail: differences.length === 0 ? user.AccessString ?? '' : differences.join('; ') });
    if (user.UserName !== want.userName) items.push({ resource: name, aspect: 'user name', status: 'drift', detail: `${user.UserName ?? 'none'} (expected ${want.userName})` });
    const auth = user.Authentication?.Type;
    if (auth !== want.authentication) items.push({ resource: name, aspect: 'authentication', status: 'drift', detail: `${auth ?? 'unknown'} (expected ${want.authentication})` });
    if (user.Status !== 'active') items.push({ resource: name, aspect: 'status', status: 'note', detail: `${user.Status ?? 'unknown'}: a change is being applied` });
  }
  const members = group?.UserIds ?? [];
  for (const [userId, user] of state.users) {
    // Users read only because a pending change adds them are described by the 'pending changes' item.
    if (expectedIds.includes(userId) || !members.includes(userId) || !user) continue;
    // A member the config does not know: its permissions are what matters (e.g. the built-in `default`, on without a password).
    items.push({ resource: `user ${userId}`, aspect: 'unexpected member', status: 'drift', detail: userDetail(user) });
  }
  return items;
}

/** A user the config does not have, by what matters: its name, whether it needs a password, its access string. */
function userDetail(user: ElastiCache.User): string {
  const open = user.Authentication?.Type === 'no-password' ? ' without a password' : '';
  return `user name ${user.UserName ?? '?'}${open}, access string "${user.AccessString ?? ''}"`;
}

/** {@link userDetail} in parentheses, or nothing for a user DescribeUsers did not find. */
const describeUser = (user: ElastiCache.User | undefined) => (user ? ` (${userDetail(user)})` : '');
