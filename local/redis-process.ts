import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** The server could not bind its port (someone else took it). */
export class AddressInUseError extends Error {}

/** Options of {@link startRedisProcess}. */
export interface RedisProcessOptions {
  readonly configFile: string;
  /** The server's output is appended here. */
  readonly logFile: string;
  /** Named in errors, e.g. "port 6380". */
  readonly label: string;
  /** How long to wait for "Ready to accept connections". */
  readonly timeoutMs: number;
  /** Called once when the process exits, whenever that is. */
  readonly onExit?: (child: ChildProcess) => void;
  /** Variables added to this process's environment for the server (e.g. a locale: `LC_ALL`, `LOCPATH`). */
  readonly env?: Readonly<Record<string, string>>;
}

const LOG_TAIL_LINES = 20;
/** How long {@link stopRedisProcess} waits after SIGTERM before it sends SIGKILL. */
const STOP_TIMEOUT_MS = 10_000;

// Against orphans: where util-linux' setpriv exists (every Debian), the kernel kills the server
// when this process dies, however it dies (PR_SET_PDEATHSIG, even on SIGKILL). And every server
// still running when this process exits is killed here.
const SETPRIV = '/usr/bin/setpriv';
const hasSetpriv = process.platform === 'linux' && existsSync(SETPRIV);
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Spawns `redis-server <configFile>` and resolves with the process once it logs "Ready to accept
 * connections" (an event, never a sleep).
 *
 * @throws Error with the tail of the server's output when it exits, cannot bind ({@link AddressInUseError})
 *   or is not ready within `timeoutMs`; the process is killed then.
 */
export function startRedisProcess(options: RedisProcessOptions): Promise<ChildProcess> {
  const [command, args] = hasSetpriv
    ? [SETPRIV, ['--pdeathsig', 'KILL', '--', 'redis-server', options.configFile]]
    : ['redis-server', [options.configFile]];
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env && { ...process.env, ...options.env } });
  running.add(child);
  const log = createWriteStream(options.logFile, { flags: 'a', mode: 0o600 });
  log.on('error', () => undefined); // the log file is a convenience: never crash the host over it
  const tail: string[] = [];
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        child.kill('SIGKILL');
        reject(error);
      } else {
        resolve(child);
      }
    };
    const failure = (why: string, Type: new (message: string) => Error = Error) =>
      new Type(`redis-server (${options.configFile}, ${options.label}) ${why}. Last lines of ${options.logFile}:\n${tail.join('\n')}`);
    const timer = setTimeout(() => settle(failure(`was not ready within ${options.timeoutMs} ms`)), options.timeoutMs);
    const onLine = (line: string) => {
      log.write(`${line}\n`);
      if (line.trim() === '') return;
      tail.push(line);
      if (tail.length > LOG_TAIL_LINES) tail.shift();
      if (line.includes('Ready to accept connections')) settle();
      if (line.includes('Address already in use')) settle(failure('could not bind: address already in use', AddressInUseError));
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', onLine);
    child.once('error', (error) => settle(failure(`could not be started (${error.message}; is redis-server >= 7 on PATH?)`)));
    child.once('exit', (code, signal) => {
      running.delete(child);
      log.end();
      options.onExit?.(child);
      const hint = code === 127 ? ' (is redis-server >= 7 on PATH?)' : '';
      settle(failure(`exited (code ${code}, signal ${signal})${hint}`));
    });
  });
}

/** Sends `signal` (SIGKILL after 10 s if still running) and waits for the process to exit. No-op if it has exited. */
export async function stopRedisProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill(signal);
  const escalate = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(escalate);
}
