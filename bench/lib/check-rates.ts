import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CheckRound, RoundRates } from './check-rates-host.js';
import { hostExecArgv } from './instance-pool.js';
import type { RoundFigures } from './rounds.js';

export type CheckRates = Record<keyof RoundRates, RoundFigures>;

type HostMessage = { t: 'ready' } | { t: 'result'; result: RoundRates };

/**
 * `Revocations.check()` against a bare `Set.has`, each round in a fresh process (check-rates-host.ts),
 * ours first in even rounds and the baseline first in odd ones. Both rates differ from one process
 * to the next, together (a process's hash seed and heap), while their ratio moves much less; timed in
 * the one measuring process, after the suite's other measurements, a run samples one process:
 * `is_revoked_per_s` read 0.54 and 0.71 in two consecutive runs (2026-12-05, probes then made by
 * `randomUUID()`, cons strings, where a token's claims are flat strings from JSON: see
 * bench/profile/set-has-probes.ts). The median of eleven processes' ratios is what holds still.
 */
export async function checkRates(round: Omit<CheckRound, 'oursFirst'>, rounds: number): Promise<CheckRates> {
  const results: RoundRates[] = [];
  for (let i = 0; i < rounds; i++) results.push(await oneRound({ ...round, oursFirst: i % 2 === 0 }));
  const figures = (probes: keyof RoundRates): RoundFigures => ({ ours: results.map((r) => r[probes].ours), baseline: results.map((r) => r[probes].baseline) });
  return { repeated: figures('repeated'), distinct: figures('distinct') };
}

/** How long one round's process may take (it takes about 3 s): past it, it is killed and the run fails. */
const ROUND_TIMEOUT_MS = 120_000;

function oneRound(round: CheckRound): Promise<RoundRates> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'check-rates-host.ts');
  const child = fork(script, [], { execArgv: hostExecArgv(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    let result: RoundRates | undefined;
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error(`a check-rates round's process gave no result within ${ROUND_TIMEOUT_MS / 1000} s`)), ROUND_TIMEOUT_MS);
    child.once('error', fail);
    child.on('message', (message: HostMessage) => {
      if (message.t === 'ready') child.send(round);
      else result = message.result;
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (result && code === 0) resolve(result);
      else reject(new Error(`a check-rates round's process exited (${signal ?? code}) without its result`));
    });
  });
}
