/**
 * Where the client reports what an operator should know. Messages never contain secrets. The
 * context (the cause of a failure, counts) is the second argument, as console and winston take it;
 * a pino logger (Fastify's `app.log`) is recognised and given it first, as pino takes it.
 */
export interface KccLogger {
  warn(message: string, context?: Record<string, unknown>): void;
  info(message: string, context?: Record<string, unknown>): void;
}

/** Warnings to stderr; info is dropped. Pass your own logger (pino, Fastify's `app.log`, console) to see more. */
export const defaultLogger: KccLogger = {
  warn: (message, context) => console.warn(`[kcc-redis] ${message}`, context ?? ''),
  info: () => {},
};

/** pino's call shape: merging object first, then the message; an object after the message is read as printf arguments (dropped without placeholders). */
interface ObjectFirstLogger {
  warn(context: Record<string, unknown>, message: string): void;
  info(context: Record<string, unknown>, message: string): void;
}

/**
 * A pino logger, told by what every pino logger and child has (`child`, `bindings`, `levels`):
 * `warn(message, context)` would lose the context, the cause of every failure the client reports.
 */
function isPino(logger: KccLogger): logger is KccLogger & ObjectFirstLogger {
  const candidate = logger as unknown as { child?: unknown; bindings?: unknown; levels?: unknown };
  return typeof candidate.child === 'function' && typeof candidate.bindings === 'function' && typeof candidate.levels === 'object' && candidate.levels !== null;
}

const adapted = new WeakMap<object, KccLogger>();

/** The logger as the client calls it: a pino logger wrapped to take the context first; any other as it is. */
export function kccLogger(logger: KccLogger): KccLogger {
  if (!isPino(logger)) return logger;
  let wrapped = adapted.get(logger);
  if (!wrapped) {
    const pino = logger;
    wrapped = {
      warn: (message, context) => (context === undefined ? pino.warn(message) : pino.warn(context, message)),
      info: (message, context) => (context === undefined ? pino.info(message) : pino.info(context, message)),
    };
    adapted.set(logger, wrapped);
  }
  return wrapped;
}
