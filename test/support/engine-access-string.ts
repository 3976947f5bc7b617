import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * `accessString` as a real redis-server describes it: applied with ACL SETUSER to a new temporary user
 * (no password: nobody can log in as it; deleted right after) and read back from ACL LIST, without
 * the leading `user <name>`. Redis 7.0 recomputes the command rules from the user's command bitmap
 * (categories, then single commands), Redis 7.2 and Valkey keep them as given minus redundancies:
 * either way a form that differs from the input in text, as AWS says ElastiCache's may
 * (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Clusters.RBAC.html).
 */
export async function engineAccessString(admin: Redis, accessString: string): Promise<string> {
  const probe = `kcc-describe-${randomBytes(6).toString('hex')}`;
  try {
    await admin.call('ACL', 'SETUSER', probe, ...accessString.split(/\s+/).filter(Boolean));
    const line = ((await admin.call('ACL', 'LIST')) as string[]).find((l) => l.startsWith(`user ${probe} `));
    if (line === undefined) throw new Error(`ACL LIST has no line for ${probe}`);
    return line.slice(`user ${probe} `.length);
  } finally {
    await admin.call('ACL', 'DELUSER', probe);
  }
}
