/**
 * The example service's function: connects with the credentials the stack wrote (KCC_REDIS_SECRET_ID,
 * read through the Secrets Manager interface endpoint) and answers with a PING through its own
 * namespace. One connection per warm container.
 */
import { KccRedis } from '@kcc-redis/client';

let connection: Promise<KccRedis> | undefined;

export async function handler(): Promise<{ pong: string }> {
  connection ??= KccRedis.connect();
  const redis = await connection;
  return { pong: await redis.client.ping() };
}
