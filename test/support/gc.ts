import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

/** Runs two full garbage collections (tests that count what stays reachable, never timings). */
export function collectGarbage(): void {
  collect();
  collect();
}
