import {
  DEFAULT_USER_NAME,
  appEnvAccessString,
  appEnvIamUserName,
  appEnvUserId,
  appEnvUserName,
  defaultAdminUserId,
  defaultUserAccessString,
  defaultUserGroupId,
  storedAccessString,
} from '@kcc-redis/client/contract';
import { hasIamUser, hasPasswordUser } from '../../infra/app-env-auth.js';
import type { DeploymentKind, KccConfig } from '../../infra/config.js';
import type { AppEnvWithAuth } from '../../infra/kcc-app.js';

/** An ElastiCache user as the stack creates it. */
export interface ExpectedUser {
  readonly userId: string;
  readonly userName: string;
  /** As the stack puts it in the template (storedAccessString: no clearselectors or resetkeys, resetchannels kept); compared by meaning. */
  readonly accessString: string;
  /** `Authentication.Type` as DescribeUsers reports it. */
  readonly authentication: 'password' | 'iam';
  readonly role: 'default user' | 'app user' | 'app IAM user';
}

/** What the config would deploy, in the terms the ElastiCache API describes. */
export interface ExpectedDeployment {
  /** A replication group (DescribeReplicationGroups) or a serverless cache (DescribeServerlessCaches). */
  readonly kind: DeploymentKind;
  /** The replication group id, or the serverless cache's name (config `replicationGroupId` either way). */
  readonly cacheName: string;
  readonly userGroupId: string;
  readonly users: readonly ExpectedUser[];
  readonly engine: string;
  /** Replication group: `major.minor`, as the config takes it; serverless: the major version. */
  readonly engineVersion: string;
  /** Whether clients connect in cluster mode: always for a serverless cache. */
  readonly clusterMode: boolean;
}

/**
 * Cluster mode as the constructs decide it: KccServerlessCache always (clients connect in cluster
 * mode), KccRedisCache with more than one shard. The app users' access strings depend on it
 * (`+cluster|slots`, and the hardened profile's standalone-only denials).
 * test/integration/cli/drift-serverless-iam.test.ts holds this to the synthesized stack.
 */
function clusterModeOf(config: KccConfig): boolean {
  return config.deployment === 'serverless' || config.shards > 1;
}

/** The users one app-env gets, as KccRedisCacheBase creates them: the same contract functions and auth rules. */
function appEnvUsers(namespace: string, appEnv: AppEnvWithAuth, accessString: string): ExpectedUser[] {
  const users: ExpectedUser[] = [];
  if (hasPasswordUser(appEnv.auth)) {
    users.push({ userId: appEnvUserId(namespace, appEnv), userName: appEnvUserName(appEnv), accessString, authentication: 'password', role: 'app user' });
  }
  if (hasIamUser(appEnv.auth)) {
    // ElastiCache requires an IAM user's id to equal its name (RbacIamUser).
    const id = appEnvIamUserName(namespace, appEnv);
    users.push({ userId: id, userName: id, accessString, authentication: 'iam', role: 'app IAM user' });
  }
  return users;
}

/** The deployment the stack builds from `config`: the same contract functions the construct calls. */
export function expectedDeployment(config: KccConfig): ExpectedDeployment {
  const namespace = config.replicationGroupId;
  const clusterMode = clusterModeOf(config);
  const users: ExpectedUser[] = [
    {
      userId: config.defaultUserId ?? defaultAdminUserId(namespace),
      userName: DEFAULT_USER_NAME,
      accessString: defaultUserAccessString(config.defaultUserEnabled),
      authentication: 'password',
      role: 'default user',
    },
    // Both users of an app-env get the same string, as in the stack.
    ...config.appEnvs.flatMap((appEnv) =>
      appEnvUsers(namespace, appEnv, storedAccessString(appEnvAccessString(appEnv, { profile: config.aclProfile, clusterMode })))),
  ];
  return {
    kind: config.deployment,
    cacheName: namespace,
    userGroupId: config.userGroupId ?? defaultUserGroupId(namespace),
    users,
    engine: config.engine,
    engineVersion: config.engineVersion,
    clusterMode,
  };
}
