import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type AclProfile, ACL_PROFILES, type KeyEncryptionKeySecret, parseKeyEncryptionKeySecret } from '@kcc-redis/client/contract';
import { passwordProblem } from './local-util.js';

/**
 * What `kcc-redis local --dir <dir>` keeps for tools in `<dir>/kcc-local.json` (owner-only, 0600):
 * where the server listens, the CA to trust, every app-env user's credentials and local
 * key-encryption key (in the KEK secret's format), the local admin user's and the (disabled)
 * default user's passwords. `kcc-redis check|drift|status|rotate-keys|revoke --local-dir <dir>`
 * read it; a restart reuses its passwords and keys, so apps' settings stay valid.
 */
export const LOCAL_STATE_FILE = 'kcc-local.json';
/** Version of the file's format. */
export const LOCAL_STATE_VERSION = 1;

/** One app-env on the local server. */
export interface LocalAppEnvState {
  readonly app: string;
  readonly env: string;
  readonly username: string;
  readonly keyPrefix: string;
  readonly password: string;
  /** The app-env's local key-encryption key, shaped like the stack's KEK secret. */
  readonly kekSecret: KeyEncryptionKeySecret;
  /** The env file with everything an instance needs. */
  readonly envFile: string;
}

/** The content of `kcc-local.json`. */
export interface LocalState {
  readonly v: typeof LOCAL_STATE_VERSION;
  readonly url: string;
  readonly caFile: string;
  readonly aclProfile: AclProfile;
  readonly clusterMode: boolean;
  readonly admin: { readonly username: string; readonly password: string };
  readonly defaultUser: { readonly password: string };
  readonly appEnvs: readonly LocalAppEnvState[];
}

/** The folder has no usable state file. The message names the folder and what to run. */
export class LocalStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LocalStateError';
  }
}

/** Writes the state file atomically (a temporary file renamed over it), readable by its owner only. */
export async function writeLocalState(dir: string, state: LocalState): Promise<string> {
  const file = join(dir, LOCAL_STATE_FILE);
  await writeOwnerOnly(file, `${JSON.stringify(state, null, 2)}\n`);
  return file;
}

/** Writes `text` to `file` atomically with mode 0600, whatever mode an earlier file had. */
export async function writeOwnerOnly(file: string, text: string): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, text, { mode: 0o600 });
    await rename(tmp, file);
  } finally {
    await rm(tmp, { force: true });
  }
}

/**
 * Reads and checks `<dir>/kcc-local.json`.
 *
 * @throws LocalStateError naming the folder and the fix (never a value from the file).
 */
export async function readLocalState(dir: string): Promise<LocalState> {
  const file = join(resolve(dir), LOCAL_STATE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new LocalStateError(
      code === 'ENOENT'
        ? `${file} does not exist: start the local server with \`kcc-redis local --dir ${dir}\` (or npm run local) first`
        : `cannot read ${file} (${code ?? 'unreadable'})`,
    );
  }
  const mode = (await stat(file)).mode & 0o077;
  if (mode !== 0) throw new LocalStateError(`${file} is readable by others (mode ${((await stat(file)).mode & 0o777).toString(8)}): it holds passwords; chmod 600 it`);
  const problems = stateProblems(text);
  if (problems.length > 0) {
    throw new LocalStateError(`${file} is not a kcc-redis local state file (${problems.join('; ')}); restart \`kcc-redis local --dir ${dir}\` to rewrite it`);
  }
  return JSON.parse(text) as LocalState;
}

/** What is wrong with the text as a state file (field names only, never values). */
function stateProblems(text: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return ['not JSON'];
  }
  if (typeof doc !== 'object' || doc === null) return ['not an object'];
  const d = doc as Record<string, unknown>;
  const problems: string[] = [];
  if (d.v !== LOCAL_STATE_VERSION) problems.push(`format version ${JSON.stringify(d.v)}, expected ${LOCAL_STATE_VERSION}`);
  if (typeof d.url !== 'string' || !d.url.startsWith('rediss://')) problems.push('url');
  if (typeof d.caFile !== 'string') problems.push('caFile');
  if (!ACL_PROFILES.includes(d.aclProfile as AclProfile)) problems.push('aclProfile');
  if (typeof d.clusterMode !== 'boolean') problems.push('clusterMode');
  const admin = d.admin as Record<string, unknown> | undefined;
  if (typeof admin?.username !== 'string' || typeof admin.password !== 'string') problems.push('admin');
  if (typeof (d.defaultUser as Record<string, unknown> | undefined)?.password !== 'string') problems.push('defaultUser');
  if (!Array.isArray(d.appEnvs)) {
    problems.push('appEnvs');
  } else {
    d.appEnvs.forEach((raw: unknown, i) => {
      const a = (raw ?? {}) as Record<string, unknown>;
      const bad = ['app', 'env', 'username', 'keyPrefix', 'password', 'envFile'].filter((field) => typeof a[field] !== 'string');
      try {
        parseKeyEncryptionKeySecret(JSON.stringify(a.kekSecret));
      } catch {
        bad.push('kekSecret');
      }
      if (bad.length > 0) problems.push(`appEnvs[${i}]: ${bad.join(', ')}`);
    });
  }
  return problems;
}

/** Secrets of an earlier run, reused so that a restart keeps apps' settings valid. */
export interface PreviousSecrets {
  readonly passwords: Readonly<Record<string, string>>;
  readonly adminPassword?: string;
  readonly defaultUserPassword?: string;
  /** KEK secrets by user name. */
  readonly kekSecrets: Readonly<Record<string, KeyEncryptionKeySecret>>;
}

/** The secrets in the folder from an earlier run (the state file, or the credentials.json of earlier versions); invalid entries are dropped. */
export async function readPreviousSecrets(dir: string): Promise<PreviousSecrets> {
  const usable = (password: unknown): password is string => typeof password === 'string' && passwordProblem(password) === undefined;
  const state = await readJson(join(dir, LOCAL_STATE_FILE));
  if (state !== undefined) {
    const s = state as Partial<LocalState>;
    const appEnvs = Array.isArray(s.appEnvs) ? s.appEnvs : [];
    const kekSecrets: Record<string, KeyEncryptionKeySecret> = {};
    for (const a of appEnvs) {
      try {
        kekSecrets[a.username] = parseKeyEncryptionKeySecret(JSON.stringify(a.kekSecret));
      } catch {
        // a new key is generated
      }
    }
    return {
      passwords: Object.fromEntries(appEnvs.filter((a) => usable(a.password)).map((a) => [a.username, a.password])),
      adminPassword: usable(s.admin?.password) ? s.admin.password : undefined,
      defaultUserPassword: usable(s.defaultUser?.password) ? s.defaultUser.password : undefined,
      kekSecrets,
    };
  }
  const legacy = await readJson(join(dir, 'credentials.json'));
  const entries = typeof legacy === 'object' && legacy !== null ? Object.entries(legacy) : [];
  return { passwords: Object.fromEntries(entries.filter((e): e is [string, string] => usable(e[1]))), kekSecrets: {} };
}

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}
