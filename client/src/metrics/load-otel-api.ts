import type { KccLogger } from '../logger.js';
import type { OtelMeterProvider } from './otel-api.js';

/** The optional peer dependency whose global `MeterProvider` is used when none is given. */
export const OTEL_API_PACKAGE = '@opentelemetry/api';

/** Imports a module by name; the parameter keeps bundlers from resolving the optional peer at build time. */
export type ModuleImporter = (specifier: string) => Promise<unknown>;

const imported = new Map<string, Promise<unknown>>();
/**
 * `import()`, once per specifier: each call resolves the specifier again (under loader hooks, a round
 * trip to the loader's thread), which every plugin registration paid. Its outcome does not change
 * within a process.
 */
const importModule: ModuleImporter = (specifier) => {
  let module = imported.get(specifier);
  if (!module) imported.set(specifier, (module = import(specifier)));
  return module;
};

interface OtelApiModule {
  readonly metrics?: { getMeterProvider?: () => OtelMeterProvider };
}

/** Node's error for a package that is not installed (ESM and CommonJS resolution). */
function isNotInstalled(error: unknown, specifier: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((error as Error).message).includes(specifier);
}

/**
 * The global `MeterProvider` of `@opentelemetry/api` (what the app's OpenTelemetry SDK registered,
 * or the API's no-op provider when none is), loaded on first use; `undefined` when the package is
 * not installed (metrics are then off, silently: it is an optional peer) or cannot be used (logged).
 * The API keeps one global per major version, so the app's copy and this one agree.
 */
export async function globalMeterProvider(logger: KccLogger, load: ModuleImporter = importModule): Promise<OtelMeterProvider | undefined> {
  let loaded: unknown;
  try {
    loaded = await load(OTEL_API_PACKAGE);
  } catch (error) {
    if (!isNotInstalled(error, OTEL_API_PACKAGE)) {
      logger.warn(`metrics are off: ${OTEL_API_PACKAGE} is installed but could not be loaded`, { error: String(error) });
    }
    return undefined;
  }
  // Imported from CommonJS, the module's exports may sit under `default`.
  const candidates = [loaded, (loaded as { default?: unknown } | null)?.default] as (OtelApiModule | null | undefined)[];
  const api = candidates.find((candidate) => typeof candidate?.metrics?.getMeterProvider === 'function');
  if (!api) {
    logger.warn(`metrics are off: ${OTEL_API_PACKAGE} has no metrics.getMeterProvider() (install a 1.x version)`);
    return undefined;
  }
  return api.metrics!.getMeterProvider!();
}
