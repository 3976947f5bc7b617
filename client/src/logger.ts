/** Where the client reports what an operator should know. Messages never contain secrets. */
export interface KccLogger {
  warn(message: string, context?: Record<string, unknown>): void;
  info(message: string, context?: Record<string, unknown>): void;
}

/** Warnings to stderr; info is dropped. Pass your own logger (pino, console) to see more. */
export const defaultLogger: KccLogger = {
  warn: (message, context) => console.warn(`[kcc-redis] ${message}`, context ?? ''),
  info: () => {},
};
