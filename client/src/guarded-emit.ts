import type { KccLogger } from './logger.js';

/**
 * Runs `emit` (an `EventEmitter.emit` to the app's listeners). A listener that throws is logged and
 * not thrown into the work that emitted: a revocation batch, a ring adoption or a timer must not
 * stop halfway, nor end in an unhandled rejection or exception, because of a bug in a listener.
 */
export function emitGuarded(logger: KccLogger, event: string, emit: () => unknown): void {
  try {
    emit();
  } catch (error) {
    logger.warn(`a listener of the ${event} event threw; the client's own state is not affected`, { error: String(error) });
  }
}
