/**
 * Node arguments that run a TypeScript entry point the way the package scripts do: through tsx, with
 * the client package resolved to its sources (the `kcc-redis-source` export condition).
 */
export const TSX_NODE_ARGS: readonly string[] = ['--conditions=kcc-redis-source', '--import', 'tsx'];
