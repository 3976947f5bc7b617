import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

/** SHA1 of each script text, computed once per process. */
const shas = new Map<string, string>();

function shaOf(lua: string): string {
  let sha = shas.get(lua);
  if (sha === undefined) {
    sha = createHash('sha1').update(lua).digest('hex');
    shas.set(lua, sha);
  }
  return sha;
}

/**
 * Runs Lua scripts by their SHA1 (EVALSHA) on one connection, sending the text (EVAL, which also
 * caches it server-side) only on first use: concurrent first calls wait for that one EVAL instead of
 * each sending the text. A server that lost its script cache (restart, failover) answers NOSCRIPT:
 * the script is sent once more.
 */
export class ScriptCache {
  /** Scripts this connection has sent: resolves true once the server has cached them. */
  private readonly loads = new Map<string, Promise<boolean>>();

  async run<T>(client: Redis | Cluster, lua: string, keys: readonly string[], args: readonly (string | number | Buffer)[]): Promise<T> {
    const sha = shaOf(lua);
    const viaEval = () => client.eval(lua, keys.length, ...keys, ...args) as Promise<T>;
    const loaded = this.loads.get(sha);
    if (loaded === undefined) {
      const loading = viaEval();
      this.loads.set(sha, loading.then(() => true, () => false));
      try {
        return await loading;
      } catch (error) {
        this.loads.delete(sha);
        throw error;
      }
    }
    if (!(await loaded)) return viaEval();
    try {
      return (await client.evalsha(sha, keys.length, ...keys, ...args)) as T;
    } catch (error) {
      if (!isNoScript(error)) throw error;
      if (this.loads.get(sha) === loaded) this.loads.delete(sha);
      return this.run<T>(client, lua, keys, args);
    }
  }
}

/**
 * NOSCRIPT: the server does not have the script (it ran nothing). In cluster mode ioredis wraps it
 * when the command had used up its redirections first, e.g. the slot moved to a node that never ran
 * the script: "Too many Cluster redirections. Last error: ReplyError: NOSCRIPT …".
 */
function isNoScript(error: unknown): boolean {
  return error instanceof Error && /^(Too many Cluster redirections\. Last error: ReplyError: )?NOSCRIPT\b/.test(error.message);
}
