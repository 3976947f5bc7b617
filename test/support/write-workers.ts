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

/** Starts `count` workers, each setting its own key `w<n>` to increasing values until stopped. */
export function startWriteWorkers(store: Store, count = 4): WriteWorkers {
  let ok = 0;
  const failures: string[] = [];
  let running = true;
  const loops = Array.from({ length: count }, async (_, n) => {
    for (let i = 0; running; i++) {
      try {
        await store.set(`w${n}`, String(i));
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
