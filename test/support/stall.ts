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
