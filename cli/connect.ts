import { KccRedis } from '@kcc-redis/client';
import type { AppEnvTarget } from './targets.js';

/** Connects to a target's app-env (as a tool, not an instance: no heartbeat), runs `use`, and closes. */
export async function withConnection<T>(target: AppEnvTarget, use: (redis: KccRedis) => Promise<T>): Promise<T> {
  const redis = await KccRedis.connect(target.connection);
  try {
    return await use(redis);
  } finally {
    await redis.close();
  }
}
