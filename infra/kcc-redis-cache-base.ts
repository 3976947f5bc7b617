import { Duration, type IResource, Names, Resource, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { CfnUserGroup } from 'aws-cdk-lib/aws-elasticache';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import {
  type AclProfile,
  type AppEnv,
  DEFAULT_ENVS,
  DEFAULT_USER_NAME,
  appEnvAccessString,
  appEnvUserId,
  appEnvUserName,
  defaultAdminUserId,
  defaultUserAccessString,
  defaultUserGroupId,
  keyPrefix,
  storedAccessString,
} from '@kcc-redis/client/contract';
import { CacheEngine } from './engine.js';
import { SigningKeyEncryptionSecret } from './key-encryption-key-secret.js';
import { RbacPasswordUser } from './rbac-password-user.js';
import { KeyEncryptionKeyRotation } from './rotation/key-encryption-key-rotation.js';
import { RedisPasswordRotation } from './rotation/redis-password-rotation.js';
import { DEFAULT_KEK_ROTATION_DAYS } from './rotation/rotation-contract.js';

/** One app that shares the cache, and the environments it runs in (one Redis user and namespace each). */
export interface KccApp {
  /** Lowercase letter first, then `a-z 0-9 -`; `<name>-<env>` is the Redis user name and key prefix. */
  readonly name: string;
  /**
   * Environments of this app.
   * @default - the cache's `envs`
   */
  readonly envs?: readonly string[];
}

/**
 * A kcc-redis cache: an ElastiCache deployment whose every app-env has its own Redis user (ACL
 * namespace `<app>-<env>:`), password secret and key-encryption-key secret.
 */
export interface IKccRedisCache extends IResource, ec2.IConnectable {
  /**
   * Id of the RBAC user group attached to the cache.
   * @attribute
   */
  readonly userGroupId: string;
  /** TCP port clients connect to. */
  readonly port: number;
  /** The app-envs (`<app>-<env>`) that have a user, in config order. */
  readonly appEnvNames: readonly string[];
  /**
   * Lets `grantee` read what one app-env's instances need (its user secret and its key-encryption
   * key), and nothing of the other app-envs.
   */
  grantRead(app: string, env: string, grantee: iam.IGrantable): iam.Grant;
}

/** What every kind of kcc-redis cache shares: users, user group, secrets, security group. */
export interface KccRedisCacheBaseProps {
  readonly vpc: ec2.IVpc;
  readonly apps: readonly KccApp[];
  /** @default ['prod', 'dev'] */
  readonly envs?: readonly string[];
  /** @default - `<namespace>-admin` */
  readonly defaultUserId?: string;
  /** @default false */
  readonly defaultUserEnabled?: boolean;
  /** @default - `<namespace>-users` */
  readonly userGroupId?: string;
  /** @default CacheEngine.VALKEY */
  readonly engine?: CacheEngine;
  /** @default 'guide' */
  readonly aclProfile?: AclProfile;
  /** @default - none besides the cache's own security group */
  readonly allowFrom?: readonly ec2.IPeer[];
  /** @default - AWS-owned keys */
  readonly encryptionKey?: kms.IKey;
  /** @default Duration.days(30) */
  readonly passwordRotation?: Duration;
  /** Time between rotations of each app-env's key-encryption key (earlier keys stay readable). @default Duration.days(90) */
  readonly kekRotation?: Duration;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
}

/** Defaults of the shared props, in one object. */
export const CACHE_BASE_DEFAULTS = {
  envs: DEFAULT_ENVS,
  defaultUserEnabled: false,
  engine: CacheEngine.VALKEY,
  aclProfile: 'guide' as AclProfile,
  passwordRotation: Duration.days(30),
  kekRotation: Duration.days(DEFAULT_KEK_ROTATION_DAYS),
  logRetention: logs.RetentionDays.ONE_MONTH,
} as const;

/** Every app × env pair of `apps`, in order (apps without `envs` take `envs`). */
export function appEnvsOf(apps: readonly KccApp[], envs: readonly string[] = CACHE_BASE_DEFAULTS.envs): AppEnv[] {
  return apps.flatMap((app) => (app.envs ?? envs).map((env) => ({ app: app.name, env })));
}

/** Settings the subclass decides (after validating its props). */
export interface CacheTopology {
  /** Prefix of the stack's ElastiCache ids (the replication group id); unique per account and region. */
  readonly namespace: string;
  readonly port: number;
  readonly clusterMode: boolean;
}

/**
 * The parts every kcc-redis cache shares: a security group that admits the cache port only (from its
 * members and `allowFrom`), the default user (disabled unless enabled), one password user per app-env
 * with its secret and key-encryption-key secret, the user group, and the password rotation.
 * Subclasses add the cache itself (replication group; later serverless).
 */
export abstract class KccRedisCacheBase extends Resource implements IKccRedisCache {
  readonly connections: ec2.Connections;
  readonly securityGroup: ec2.ISecurityGroup;
  readonly userGroupId: string;
  readonly port: number;
  readonly clusterMode: boolean;
  readonly appEnvNames: readonly string[];
  readonly defaultUser: RbacPasswordUser;
  /** App-env users by user name (`<app>-<env>`). */
  readonly appEnvUsers: ReadonlyMap<string, RbacPasswordUser>;
  /** Key-encryption-key secrets of the app-envs' signing keys, by user name. */
  readonly keyEncryptionKeys: ReadonlyMap<string, SigningKeyEncryptionSecret>;
  /** Rotates the password of every user (default and app-envs). */
  readonly passwordRotation: RedisPasswordRotation;
  /** Rotates every key-encryption key, keeping the earlier ones readable. */
  readonly kekRotation: KeyEncryptionKeyRotation;
  /** Customer-managed key of the cache and the secrets, when one is given. */
  readonly encryptionKey: kms.IKey | undefined;
  protected readonly userGroup: CfnUserGroup;
  /** Prefix of this cache's ElastiCache ids (user ids, user group id): unique per account and region. */
  protected readonly namespace: string;

  protected constructor(scope: Construct, id: string, props: KccRedisCacheBaseProps, topology: (self: KccRedisCacheBase) => CacheTopology) {
    super(scope, id);
    const { namespace, port, clusterMode } = topology(this);
    const engine = props.engine ?? CACHE_BASE_DEFAULTS.engine;
    this.namespace = namespace;
    this.port = port;
    this.clusterMode = clusterMode;
    this.encryptionKey = props.encryptionKey;
    const cachePort = ec2.Port.tcp(port);

    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: `kcc-redis ${namespace}: ${engine} on tcp/${port} for members and allowed peers only`,
      allowAllOutbound: false,
    });
    securityGroup.connections.allowInternally(cachePort, 'Members of this group (app instances) reach the cache');
    for (const peer of props.allowFrom ?? []) securityGroup.addIngressRule(peer, cachePort, `kcc-redis clients from ${peer.uniqueId}`);
    this.securityGroup = securityGroup;
    this.connections = new ec2.Connections({ securityGroups: [securityGroup], defaultPort: cachePort });

    const userProps = { engine, replicationGroupId: namespace, encryptionKey: props.encryptionKey };
    this.defaultUser = new RbacPasswordUser(this, 'DefaultUser', {
      ...userProps,
      userId: props.defaultUserId ?? defaultAdminUserId(namespace),
      userName: DEFAULT_USER_NAME,
      accessString: defaultUserAccessString(props.defaultUserEnabled ?? CACHE_BASE_DEFAULTS.defaultUserEnabled),
      keyPrefix: '',
    });
    const appEnvUsers = new Map<string, RbacPasswordUser>();
    const keks = new Map<string, SigningKeyEncryptionSecret>();
    for (const appEnv of appEnvsOf(props.apps, props.envs)) {
      const name = appEnvUserName(appEnv);
      appEnvUsers.set(name, new RbacPasswordUser(this, `User-${name}`, {
        ...userProps,
        userId: appEnvUserId(namespace, appEnv),
        userName: name,
        // As ElastiCache stores it, so drift detection compares like with like (storedAccessString says why nothing is lost).
        accessString: storedAccessString(appEnvAccessString(appEnv, { profile: props.aclProfile ?? CACHE_BASE_DEFAULTS.aclProfile, clusterMode })),
        keyPrefix: keyPrefix(appEnv),
      }));
    }
    for (const name of appEnvUsers.keys()) {
      keks.set(name, new SigningKeyEncryptionSecret(this, `Kek-${name}`, { appEnvName: name, encryptionKey: props.encryptionKey }));
    }
    this.appEnvUsers = appEnvUsers;
    this.keyEncryptionKeys = keks;
    this.appEnvNames = [...appEnvUsers.keys()];

    this.passwordRotation = new RedisPasswordRotation(this, 'PasswordRotation', {
      users: [this.defaultUser, ...appEnvUsers.values()],
      automaticallyAfter: props.passwordRotation ?? CACHE_BASE_DEFAULTS.passwordRotation,
      rotationTag: namespace,
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention ?? CACHE_BASE_DEFAULTS.logRetention,
    });
    this.kekRotation = new KeyEncryptionKeyRotation(this, 'KekRotation', {
      secrets: new Map([...keks].map(([name, kek]) => [name, kek.secret])),
      automaticallyAfter: props.kekRotation ?? CACHE_BASE_DEFAULTS.kekRotation,
      rotationTag: namespace,
      encryptionKey: props.encryptionKey,
      logRetention: props.logRetention ?? CACHE_BASE_DEFAULTS.logRetention,
    });

    const users = [this.defaultUser, ...appEnvUsers.values()];
    this.userGroup = new CfnUserGroup(this, 'UserGroup', {
      engine,
      userGroupId: props.userGroupId ?? defaultUserGroupId(namespace),
      // The user ids themselves, not Ref: Ref of AWS::ElastiCache::User returns its UserName (the
      // service spec's cfnRefIdentifier), which for the default user is "default", the id of
      // ElastiCache's built-in, password-less default user. The dependencies keep the creation order.
      userIds: users.map((user) => user.userId),
    });
    for (const user of users) this.userGroup.node.addDependency(user.resource);
    this.userGroupId = this.userGroup.ref;
  }

  /** The user of one app-env; throws naming the known ones when it does not exist. */
  appEnvUser(app: string, env: string): RbacPasswordUser {
    const user = this.appEnvUsers.get(`${app}-${env}`);
    if (!user) throw new TypeError(`No Redis user for app "${app}" env "${env}"; known: ${this.appEnvNames.join(', ')}`);
    return user;
  }

  /**
   * Lets `grantee` (the app-env's instances) read what the client needs: its user secret
   * (username, password, key prefix) and its key-encryption key. Nothing of other app-envs.
   */
  grantRead(app: string, env: string, grantee: iam.IGrantable): iam.Grant {
    const user = this.appEnvUser(app, env);
    const grant = user.secret.grantRead(grantee).combine(this.keyEncryptionKeys.get(user.userName)!.secret.grantRead(grantee));
    if (!this.encryptionKey) return grant;
    // Secrets encrypted with a customer key need kms:Decrypt too. CDK's own grant cannot edit the
    // policy of a key imported by ARN and adds nothing; grant it on the principal, through Secrets Manager only.
    return grant.combine(
      iam.Grant.addToPrincipal({
        grantee,
        actions: ['kms:Decrypt'],
        resourceArns: [this.encryptionKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` } },
      }),
    );
  }
}

/** A default namespace unique to the construct's path: lowercase letters and digits, at most 20. */
export function generatedNamespace(scope: Construct): string {
  const name = Names.uniqueResourceName(scope, { maxLength: 20 }).toLowerCase().replace(/[^a-z0-9]/g, '');
  return /^[a-z]/.test(name) ? name : `k${name.slice(1)}`;
}
