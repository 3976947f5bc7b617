import { existsSync } from 'node:fs';

/**
 * Holds this process's event loop for `ms` (a busy loop): no timer and no I/O callback runs
 * meanwhile, which is what a freeze (SIGSTOP, an AWS Lambda environment between invocations) looks
 * like from inside the process once it runs again. For tests of what must not outlive a pause.
 */
export function stallProcess(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy: nothing else runs
  }
}

/**
 * {@link stallProcess} until `file` exists (written by another process), and for `minMs` at least;
 * throws after `maxMs`. The other process acts while this one looks frozen.
 */
export function stallUntilFile(file: string, minMs: number, maxMs = 60_000): void {
  const start = performance.now();
  const tick = new Int32Array(new SharedArrayBuffer(4));
  while (!existsSync(file)) {
    if (performance.now() - start > maxMs) throw new Error(`${file} did not appear within ${maxMs} ms`);
    Atomics.wait(tick, 0, 0, 10); // sleeps this thread: the other process gets the cores
  }
  stallProcess(minMs - (performance.now() - start));
}
