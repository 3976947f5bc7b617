import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type HostMode = 'kcc' | 'raw' | 'kcc-sub' | 'raw-json' | 'raw-decode' | 'raw-index';
type HostMessage = { t: 'ready' } | { t: 'seen'; id: string } | { t: 'reached' };

/** Benchmark instances in processes of their own, `perProcess` instances per process (see instance-host.ts). */
export class InstancePool {
  private readonly onSeen = new Set<(id: string) => void>();
  /** The waits in progress fail when a process exits before the pool is stopped (or they would never end). */
  private readonly onExit = new Set<(error: Error) => void>();
  private stopping = false;

  private constructor(private readonly children: readonly ChildProcess[]) {
    for (const child of children) {
      child.on('message', (message: HostMessage) => {
        if (message.t === 'seen') for (const listener of this.onSeen) listener(message.id);
      });
      child.once('exit', (code, signal) => {
        if (this.stopping) return;
        const error = new Error(`instance host ${child.pid} exited (${signal ?? code}) while the benchmark ran`);
        for (const fail of this.onExit) fail(error);
      });
    }
  }

  /** `processes` processes of `perProcess` instances each (or a list of instance counts per process). */
  static start(processes: number | readonly number[], mode: HostMode, connection: Record<string, unknown>, perProcess = 1): Promise<InstancePool> {
    const script = join(dirname(fileURLToPath(import.meta.url)), 'instance-host.ts');
    const layout = typeof processes === 'number' ? Array.from({ length: processes }, () => perProcess) : processes;
    return InstancePool.fork(script, layout.map((n) => ({ KCC_BENCH_HOST: JSON.stringify({ ...connection, mode, perProcess: n }) })));
  }

  /**
   * One process per entry of `envs`, each running `script` (TypeScript, through tsx) with those
   * variables added to this process's environment; resolves once every one has sent `ready`. A host
   * speaks this pool's protocol: `ready`, `seen`, `reached` to the parent, `stop` and `expect` from it.
   */
  static async fork(script: string, envs: readonly Record<string, string>[]): Promise<InstancePool> {
    const execArgv = hostExecArgv();
    const children = envs.map((env) => fork(script, [], { execArgv, env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    const started = Promise.all(children.map((child) => new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`instance host exited early (${code})`)));
      const onMessage = (message: HostMessage) => {
        if (message.t === 'ready') {
          child.off('message', onMessage);
          child.removeAllListeners('exit');
          resolve();
        }
      };
      child.on('message', onMessage);
    })));
    try {
      await started;
    } catch (error) {
      for (const child of children) child.kill('SIGKILL');
      throw error;
    }
    return new InstancePool(children);
  }

  /** The processes' ids (to read their CPU time). */
  get pids(): readonly number[] {
    return this.children.map((child) => child.pid!);
  }

  /** Resolves when every instance has seen `id` (each process reports once for all of its instances). */
  allSee(id: string): Promise<void> {
    let remaining = this.children.length;
    return handledLater(new Promise((resolve, reject) => {
      const listener = (seen: string) => {
        if (seen === id && --remaining === 0) {
          this.onSeen.delete(listener);
          this.onExit.delete(reject);
          resolve();
        }
      };
      this.onSeen.add(listener);
      this.onExit.add(reject);
    }));
  }

  /** Resolves when every `kcc` instance holds at least `count` revoked sessions. */
  allReach(count: number): Promise<void> {
    return handledLater(Promise.all(this.children.map((child) => new Promise<void>((resolve, reject) => {
      const onMessage = (message: HostMessage) => {
        if (message.t === 'reached') {
          child.off('message', onMessage);
          this.onExit.delete(reject);
          resolve();
        }
      };
      child.on('message', onMessage);
      this.onExit.add(reject);
      child.send({ t: 'expect', count });
    }))).then(() => undefined));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.children.map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null || !child.connected) return resolve();
      child.once('exit', () => resolve());
      child.send({ t: 'stop' });
      setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
    })));
  }
}

/** How a benchmark's child process runs: the client's TypeScript source through tsx, plus `KCC_BENCH_HOST_ARGS`. */
export function hostExecArgv(): string[] {
  return ['--conditions=kcc-redis-source', '--import', 'tsx', ...(process.env.KCC_BENCH_HOST_ARGS?.split(' ').filter(Boolean) ?? [])];
}

/**
 * A wait is made before what it waits for is sent, and awaited after: a host that exits in between
 * rejects it while nothing awaits it yet, which Node would treat as unhandled and exit on, skipping
 * the suite's clean-up. The rejection still reaches whoever awaits it.
 */
function handledLater<T>(wait: Promise<T>): Promise<T> {
  wait.catch(() => undefined);
  return wait;
}
