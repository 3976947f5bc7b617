import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { TSX_NODE_ARGS } from './tsx.js';

const MAIN = fileURLToPath(new URL('./instance-main.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** An app instance in its own process (instance-main.ts), driven over stdio. */
export class InstanceProcess {
  readonly lines: string[] = [];
  private readonly waiters = new Set<() => void>();
  private exited = false;

  private constructor(
    private readonly child: ChildProcess,
    readonly instanceId: string,
    readonly firstKid: string,
  ) {}

  /** Starts an instance with exactly `env` (plus PATH) and resolves once it is ready. */
  static async start(env: Readonly<Record<string, string>>, timeoutMs = 30_000): Promise<InstanceProcess> {
    const child = spawn(process.execPath, [...TSX_NODE_ARGS, MAIN], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    // A line sent while the instance is exiting (or killed) fails with EPIPE: an 'error' without a
    // listener would throw outside any test; the test sees the instance gone instead.
    child.stdin!.on('error', () => undefined);
    const stderr: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
    const reader = createInterface({ input: child.stdout! });
    const ready = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`instance not ready within ${timeoutMs} ms:\n${stderr.join('\n')}`)), timeoutMs);
      child.once('exit', (code) => reject(new Error(`instance exited (${code}) before ready:\n${stderr.join('\n')}`)));
      reader.once('line', (line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
    const [word, id, kid] = ready.split(' ');
    if (word !== 'ready' || !id || !kid) throw new Error(`unexpected first line from the instance: ${ready}`);
    const instance = new InstanceProcess(child, id, kid);
    reader.on('line', (line) => {
      instance.lines.push(line);
      for (const waiter of instance.waiters) waiter();
    });
    child.once('exit', () => {
      instance.exited = true;
      for (const waiter of instance.waiters) waiter();
    });
    return instance;
  }

  /** Resolves with the first line from index `from` on (so far or later) matching `pattern`; rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs = 15_000, from = 0): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.lines.slice(from).find((line) => pattern.test(line));
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (this.exited) {
          done();
          reject(new Error(`instance exited without printing ${pattern}; it printed:\n${this.lines.join('\n')}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`instance did not print ${pattern} within ${timeoutMs} ms; it printed:\n${this.lines.join('\n')}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Sends a command line (see instance-main.ts). */
  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** Asks the instance whether a session is revoked. */
  async checkSid(sid: string): Promise<string> {
    const from = this.lines.length;
    this.send(`check-sid ${sid}`);
    const line = await this.waitFor(new RegExp(`^sid ${sid} `), 15_000, from);
    return line.split(' ')[2]!;
  }

  /** Closes the instance (its heartbeat entry goes with it) and waits for it to exit. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send('exit');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}
