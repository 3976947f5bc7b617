import type { EventEmitter } from 'node:events';

/**
 * Resolves with the arguments of the next `event` emitted by `emitter`, or rejects after
 * `timeoutMs` naming the event (a bound, never a synchronisation sleep).
 */
export function nextEvent<T extends unknown[] = unknown[]>(emitter: EventEmitter<never> | EventEmitter, event: string, timeoutMs = 10_000): Promise<T> {
  const target = emitter as EventEmitter;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      target.off(event, listener);
      reject(new Error(`no "${event}" event within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args as T);
    };
    target.once(event, listener);
  });
}

/** Polls `condition` on each turn of the event loop until true, failing after `timeoutMs`. */
export async function until(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Like {@link until} for a condition that needs I/O: re-checks every `intervalMs` until true, failing after `timeoutMs`. */
export async function untilAsync(condition: () => Promise<boolean>, what: string, timeoutMs = 10_000, intervalMs = 25): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
