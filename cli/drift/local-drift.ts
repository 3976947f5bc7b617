import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Cluster, Redis } from 'ioredis';
import { DEFAULT_USER_NAME, appEnvAccessString, defaultUserAccessString } from '@kcc-redis/client/contract';
import type { LocalState } from '../../local/local-state.js';
import { openProbe } from '../check/endpoint.js';
import type { DriftItem } from './drift-item.js';

/** ACL GETUSER as a field map, without the password hashes (never read further, never printed). */
async function aclUser(admin: Redis | Cluster, user: string): Promise<Record<string, string> | undefined> {
  const reply = (await admin.call('ACL', 'GETUSER', user)) as unknown[] | null;
  if (reply === null) return undefined;
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const name = String(reply[i]);
    if (name === 'passwords') continue;
    const value = reply[i + 1];
    fields[name] = Array.isArray(value) ? value.map(String).join(' ') : String(value);
  }
  return fields;
}

/**
 * The local server's ACL users against what `kcc-redis local` configured (its state file), compared
 * by meaning the server's own way: Redis 7 describes a user's rules in its own compiled form (e.g.
 * `+@fast` comes back as a list of categories and commands), so the expected string is applied to a
 * new temporary user (without any password, so nobody can log in as it; deleted right after) and
 * the two users' ACL GETUSER fields are compared. The local server is
 * Redis 7, not the configured engine, and has its own admin user: neither is drift.
 */
export async function localDrift(state: LocalState): Promise<DriftItem[]> {
  const url = new URL(state.url);
  const ca = await readFile(state.caFile, 'utf8');
  const admin = await openProbe(
    { host: url.hostname, port: Number(url.port), tls: { ca, servername: 'localhost' }, clusterMode: false, connectTimeoutMs: 10_000 },
    { username: state.admin.username, password: state.admin.password },
  );
  const items: DriftItem[] = [];
  const probeUser = `kcc-drift-probe-${randomBytes(6).toString('hex')}`;
  try {
    const expected = new Map<string, string>([
      [DEFAULT_USER_NAME, defaultUserAccessString(false)],
      ...state.appEnvs.map((a) => [a.username, appEnvAccessString({ app: a.app, env: a.env }, { profile: state.aclProfile, clusterMode: state.clusterMode })] as [string, string]),
    ]);
    for (const [user, accessString] of expected) {
      const resource = user === DEFAULT_USER_NAME ? 'default user' : `app user ${user}`;
      const actual = await aclUser(admin, user);
      if (!actual) {
        items.push({ resource, aspect: 'exists', status: 'drift', detail: 'no such ACL user' });
        continue;
      }
      // A new user each time: `reset` would add flags (sanitize-payload) a user made from the ACL file has not.
      await admin.call('ACL', 'DELUSER', probeUser);
      await admin.call('ACL', 'SETUSER', probeUser, ...accessString.split(' '));
      const want = (await aclUser(admin, probeUser))!;
      const differences = Object.keys({ ...want, ...actual })
        .filter((field) => want[field] !== actual[field])
        .map((field) => `${field}: "${actual[field] ?? ''}" where "${abbreviated(want[field] ?? '')}" is expected`);
      items.push({ resource, aspect: 'access string', status: differences.length === 0 ? 'ok' : 'drift', detail: differences.length === 0 ? accessString : differences.join('; ') });
    }
    const known = new Set([...expected.keys(), state.admin.username, probeUser]);
    for (const user of ((await admin.call('ACL', 'USERS')) as string[]).filter((u) => !known.has(u))) {
      items.push({ resource: `user ${user}`, aspect: 'unexpected user', status: 'drift', detail: 'an ACL user the config does not create' });
    }
    const config = (await admin.call('CONFIG', 'GET', 'port')) as string[];
    const plaintextPort = config[1];
    items.push({ resource: 'server', aspect: 'transit encryption', status: plaintextPort === '0' ? 'ok' : 'drift', detail: plaintextPort === '0' ? 'TLS only (no plaintext port)' : `a plaintext port is open: ${plaintextPort}` });
    const info = String(await admin.call('INFO', 'server'));
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
    items.push({ resource: 'server', aspect: 'engine', status: 'note', detail: `local redis-server ${version} stands in for the configured engine (not drift); the local admin user ${state.admin.username} is local only` });
  } finally {
    await admin.call('ACL', 'DELUSER', probeUser).catch(() => undefined);
    admin.disconnect();
  }
  return items;
}

/** A long rule list cut to its start, saying how much was left out. */
function abbreviated(text: string, max = 60): string {
  if (text.length <= max) return text;
  const words = text.split(' ');
  let out = '';
  let used = 0;
  while (used < words.length && out.length + words[used]!.length < max) out += `${used === 0 ? '' : ' '}${words[used++]}`;
  return `${out} … (${words.length - used} more)`;
}
