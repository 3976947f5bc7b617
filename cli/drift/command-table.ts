/** The command table access strings are evaluated with: what a real server says of its commands. */
export interface CommandTableData {
  /** The engine the table was read from, e.g. `redis 7.0.15`. */
  readonly engine: string;
  /** ACL category names, without `@`. */
  readonly categories: readonly string[];
  /** Commands and subcommands (`container|sub`), lowercase: [space-separated ACL categories, version that added it]. */
  readonly commands: Readonly<Record<string, readonly [categories: string, since: string]>>;
}
