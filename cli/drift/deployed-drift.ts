import { accessDifferences } from './access-rules.js';
import type { DriftItem } from './drift-item.js';
import type { DeployedState } from './elasticache-state.js';
import type { ExpectedDeployment } from './expected-deployment.js';

/**
 * The deployed state against what the config would create, semantically: access strings by
 * meaning (accessDifferences), group membership as a set, the default user's state, transit
 * encryption, engine and version, cluster mode. Statuses in flight (modifying, pending changes)
 * are notes, not drift.
 */
export function compareDeployment(expected: ExpectedDeployment, state: DeployedState): DriftItem[] {
  const items: DriftItem[] = [];
  const rgName = `replication group ${expected.replicationGroupId}`;
  const rg = state.replicationGroup;
  if (!rg) {
    items.push({
      resource: rgName,
      aspect: 'exists',
      status: 'drift',
      detail: state.serverlessCache
        ? `not found; a serverless cache "${state.serverlessCache.ServerlessCacheName}" (${state.serverlessCache.Engine ?? '?'} ${state.serverlessCache.FullEngineVersion ?? state.serverlessCache.MajorEngineVersion ?? ''}) has that name: the config describes a replication group`
        : 'not found (not deployed, another region or account, or another replicationGroupId)',
    });
  } else {
    const check = (aspect: string, ok: boolean, detail: string) => items.push({ resource: rgName, aspect, status: ok ? 'ok' : 'drift', detail });
    if (rg.Status !== 'available') items.push({ resource: rgName, aspect: 'status', status: 'note', detail: `${rg.Status ?? 'unknown'} (not available): values may be changing` });
    check('transit encryption', rg.TransitEncryptionEnabled === true && rg.TransitEncryptionMode === 'required',
      `enabled ${String(rg.TransitEncryptionEnabled ?? false)}, mode ${rg.TransitEncryptionMode ?? 'none'}${rg.TransitEncryptionMode === 'required' ? '' : ' (expected required: TLS only)'}`);
    check('authentication', rg.AuthTokenEnabled !== true, rg.AuthTokenEnabled === true ? 'an AUTH token is enabled (expected RBAC users only)' : 'RBAC users only (no AUTH token)');
    const groups = rg.UserGroupIds ?? [];
    check('user group', groups.length === 1 && groups[0] === expected.userGroupId, `attached: ${groups.join(', ') || 'none'}${groups.length === 1 && groups[0] === expected.userGroupId ? '' : ` (expected ${expected.userGroupId})`}`);
    check('engine', rg.Engine === expected.engine, `${rg.Engine ?? 'unknown'}${rg.Engine === expected.engine ? '' : ` (expected ${expected.engine})`}`);
    const version = state.engineVersion;
    const versionOk = version !== undefined && (version === expected.engineVersion || version.startsWith(`${expected.engineVersion}.`));
    check('engine version', versionOk, `${version ?? 'unknown'}${versionOk ? '' : ` (expected ${expected.engineVersion}.x)`}`);
    check('cluster mode', (rg.ClusterEnabled === true) === expected.clusterMode, `${rg.ClusterEnabled ? 'enabled' : 'disabled'}${(rg.ClusterEnabled === true) === expected.clusterMode ? '' : ` (expected ${expected.clusterMode ? 'enabled' : 'disabled'})`}`);
  }

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
    const pending = [...(group.PendingChanges?.UserIdsToAdd ?? []).map((id) => `+${id}`), ...(group.PendingChanges?.UserIdsToRemove ?? []).map((id) => `-${id}`)];
    if (group.Status !== 'active' || pending.length > 0) items.push({ resource: groupName, aspect: 'status', status: 'note', detail: `${group.Status ?? 'unknown'}${pending.length > 0 ? `, pending: ${pending.join(' ')}` : ''}` });
    if (rg && !(group.ReplicationGroups ?? []).includes(expected.replicationGroupId)) {
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
    const differences = accessDifferences(want.accessString, user.AccessString ?? '');
    items.push({ resource: name, aspect: 'access string', status: differences.length === 0 ? 'ok' : 'drift', detail: differences.length === 0 ? user.AccessString ?? '' : differences.join('; ') });
    if (user.UserName !== want.userName) items.push({ resource: name, aspect: 'user name', status: 'drift', detail: `${user.UserName ?? 'none'} (expected ${want.userName})` });
    const auth = user.Authentication?.Type;
    if (auth !== 'password') items.push({ resource: name, aspect: 'authentication', status: 'drift', detail: `${auth ?? 'unknown'} (expected password)` });
    if (user.Status !== 'active') items.push({ resource: name, aspect: 'status', status: 'note', detail: `${user.Status ?? 'unknown'}: a change is being applied` });
  }
  for (const [userId, user] of state.users) {
    if (expectedIds.includes(userId) || !user) continue;
    // A member the config does not know: its permissions are what matters (e.g. the built-in `default`, on without a password).
    const open = user.Authentication?.Type === 'no-password' ? ' without a password' : '';
    items.push({ resource: `user ${userId}`, aspect: 'unexpected member', status: 'drift', detail: `user name ${user.UserName ?? '?'}${open}, access string "${user.AccessString ?? ''}"` });
  }
  return items;
}
