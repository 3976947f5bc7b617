import type { Store } from '../../client/src/store.js';
import { until } from './events.js';

/** Workers writing through a Store in a loop, counting what succeeded and keeping what failed. */
export interface WriteWorkers {
  /** Writes that succeeded so far. */
  readonly ok: number;
  /** The errors of the writes that failed, as strings. */
  readonly failures: readonly string[];
  /** Waits for `count` more successful writes (or the first failure), up to `timeoutMs`. */
  okAfter(count: number, what?: string, timeoutMs?: number): Promise<void>;
  /** Stops the loops and waits for their last writes. */
  stop(): Promise<void>;
}

/**
 * Starts `count` workers, each writing in a loop until stopped: through a Store, its own key `w<n>`
 * set to increasing values; or `write(worker, i)`, the `i`-th write of worker `worker`.
 */
export function startWriteWorkers(target: Store | ((worker: number, i: number) => Promise<unknown>), count = 4): WriteWorkers {
  const write = typeof target === 'function' ? target : (n: number, i: number) => target.set(`w${n}`, String(i));
  let ok = 0;
  const failures: string[] = [];
  let running = true;
  const loops = Array.from({ length: count }, async (_, n) => {
    for (let i = 0; running; i++) {
      try {
        await write(n, i);
        ok++;
      } catch (error) {
        failures.push(String(error));
      }
    }
  });
  return {
    get ok() { return ok; },
    failures,
    async okAfter(more, what = `${more} more successful writes`, timeoutMs) {
      const target = ok + more;
      await until(() => ok >= target || failures.length > 0, what, timeoutMs);
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
