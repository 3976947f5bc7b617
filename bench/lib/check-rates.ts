import { fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CheckRound } from './check-rates-host.js';
import { hostExecArgv } from './instance-pool.js';
import type { RoundFigures } from './rounds.js';

export interface CheckRates {
  readonly repeated: RoundFigures;
  readonly distinct: RoundFigures;
}

type HostMessage = { t: 'ready' } | { t: 'result'; result: Record<keyof CheckRates, { ours: number; baseline: number }> };

/**
 * `Revocations.check()` against a bare `Set.has`, each round in a fresh process (check-rates-host.ts),
 * ours first in even rounds and the baseline first in odd ones. In one process both rates hold still
 * from round to round, but they differ from one process to the next, the baseline most: the same
 * `Set.has` loop read 9.3 to 23.5 M/s in eight fresh processes (2026-12-05), and two consecutive
 * runs of the suite, which timed every round in the one measuring process, read
 * `is_revoked_per_s` 0.54 and 0.71. A round per process makes the median a median over processes.
 */
export async function checkRates(round: Omit<CheckRound, 'oursFirst'>, rounds: number): Promise<CheckRates> {
  const repeated = { ours: [] as number[], baseline: [] as number[] };
  const distinct = { ours: [] as number[], baseline: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    const result = await oneRound({ ...round, oursFirst: i % 2 === 0 });
    repeated.ours.push(result.repeated.ours);
    repeated.baseline.push(result.repeated.baseline);
    distinct.ours.push(result.distinct.ours);
    distinct.baseline.push(result.distinct.baseline);
  }
  return { repeated, distinct };
}

function oneRound(round: CheckRound): Promise<Extract<HostMessage, { t: 'result' }>['result']> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'check-rates-host.ts');
  const child = fork(script, [], { execArgv: hostExecArgv(), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    let result: Extract<HostMessage, { t: 'result' }>['result'] | undefined;
    child.once('error', reject);
    child.on('message', (message: HostMessage) => {
      if (message.t === 'ready') child.send(round);
      else result = message.result;
    });
    child.once('exit', (code, signal) => (result && code === 0 ? resolve(result) : reject(new Error(`a check-rates round's process exited (${signal ?? code}) without its result`))));
  });
}
