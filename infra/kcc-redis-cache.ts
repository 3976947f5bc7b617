import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { CfnReplicationGroup, CfnSubnetGroup, CfnUserGroup } from 'aws-cdk-lib/aws-elasticache';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  type AppEnv,
  DEFAULT_USER_NAME,
  appEnvAccessString,
  appEnvUserName,
  defaultUserAccessString,
  keyPrefix,
} from '@kcc-redis/client/contract';
import type { AllowedPeer } from './allowed-peer.js';
import type { KccConfig } from './config.js';
import { clusterModeParameterGroup } from './engine.js';
import { SigningKeyEncryptionSecret } from './key-encryption-key-secret.js';
import { RbacPasswordUser } from './rbac-password-user.js';
import { KeyEncryptionKeyRotation } from './rotation/key-encryption-key-rotation.js';
import { RedisPasswordRotation } from './rotation/redis-password-rotation.js';

export interface KccRedisCacheProps {
  /** Validated config: obtain it from `parseConfig` (cdk.json context or your own object). */
  readonly config: KccConfig;
  /** VPC the cache nodes live in. */
  readonly vpc: ec2.IVpc;
  /**
   * Subnets for the cache's subnet group; pick subnets in at least two AZs for Multi-AZ.
   * @default - the VPC's private subnets (isolated ones when it has no others)
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Extra peers allowed to reach the cache port, beside `config.allowFrom` and the cache's own
   * security group.
   * @default - none
   */
  readonly allowFrom?: readonly ec2.IPeer[];
  /**
   * Customer-managed KMS key for encryption at rest (cache and user secrets).
   * @default - `config.kmsKeyArn` when set, else AWS-owned keys
   */
  readonly encryptionKey?: kms.IKey;
}

/**
 * The setup guide as one construct: a security group on the cache port, the default user
 * (disabled unless configured), one password user per app-env with its own secret, the user group,
 * and a TLS-required, encrypted-at-rest replication group attached to that group.
 *
 * @example
 * const cache = new KccRedisCache(this, 'Cache', { config: parseConfig(raw), vpc });
 * cache.connections.allowDefaultPortFrom(appSecurityGroup);
 * cache.grantRead('my-app', 'prod', appRole);
 */
export class KccRedisCache extends Construct implements ec2.IConnectable {
  readonly connections: ec2.Connections;
  readonly securityGroup: ec2.ISecurityGroup;
  readonly replicationGroupId: string;
  readonly userGroupId: string;
  readonly port: number;
  readonly clusterMode: boolean;
  /** Whether nodes are spread over AZs with automatic failover (at least one replica per shard). */
  readonly multiAz: boolean;
  readonly defaultUser: RbacPasswordUser;
  /** App-env users by user name (`<app>-<env>`). */
  readonly appEnvUsers: ReadonlyMap<string, RbacPasswordUser>;
  /** Rotates the password of every user (default and app-envs) every `passwordRotationDays`. */
  readonly passwordRotation: RedisPasswordRotation;
  /** Key-encryption-key secrets of the app-envs' signing keys, by user name. */
  readonly keyEncryptionKeys: ReadonlyMap<string, SigningKeyEncryptionSecret>;
  /** Rotates every key-encryption key every `kekRotationDays`, keeping the earlier ones readable. */
  readonly kekRotation: KeyEncryptionKeyRotation;
  readonly resource: CfnReplicationGroup;
  /** Customer-managed key of the cache and the secrets, when one is configured. */
  readonly encryptionKey: kms.IKey | undefined;

  constructor(scope: Construct, id: string, props: KccRedisCacheProps) {
    super(scope, id);
    const { config, vpc } = props;
    this.port = config.port;
    this.clusterMode = config.shards > 1;
    this.multiAz = config.replicas > 0;
    const encryptionKey =
      props.encryptionKey ?? (config.kmsKeyArn ? kms.Key.fromKeyArn(this, 'EncryptionKey', config.kmsKeyArn) : undefined);
    this.encryptionKey = encryptionKey;
    const cachePort = ec2.Port.tcp(config.port);

    const securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc,
      description: `kcc-redis ${config.replicationGroupId}: ${config.engine} on tcp/${config.port} for members and allowed peers only`,
      allowAllOutbound: false,
    });
    securityGroup.connections.allowInternally(cachePort, 'Members of this group (app instances) reach the cache');
    for (const peer of [...config.allowFrom.map(toPeer), ...(props.allowFrom ?? [])]) {
      securityGroup.addIngressRule(peer, cachePort, `kcc-redis clients from ${peer.uniqueId}`);
    }
    this.securityGroup = securityGroup;
    this.connections = new ec2.Connections({ securityGroups: [securityGroup], defaultPort: cachePort });

    const subnetGroup = new CfnSubnetGroup(this, 'SubnetGroup', {
      description: `kcc-redis ${config.replicationGroupId} subnets`,
      subnetIds: vpc.selectSubnets(props.vpcSubnets).subnetIds,
    });

    const userProps = { engine: config.engine, replicationGroupId: config.replicationGroupId, encryptionKey };
    this.defaultUser = new RbacPasswordUser(this, 'DefaultUser', {
      ...userProps,
      userId: config.defaultUserId,
      userName: DEFAULT_USER_NAME,
      accessString: defaultUserAccessString(config.defaultUserEnabled),
      keyPrefix: '',
    });
    const appEnvUsers = new Map<string, RbacPasswordUser>();
    for (const appEnv of config.appEnvs) {
      const name = appEnvUserName(appEnv);
      appEnvUsers.set(name, new RbacPasswordUser(this, `User-${name}`, {
        ...userProps,
        userId: name,
        userName: name,
        accessString: appEnvAccessString(appEnv, { profile: config.aclProfile, clusterMode: this.clusterMode }),
        keyPrefix: keyPrefix(appEnv),
      }));
    }
    this.appEnvUsers = appEnvUsers;
    this.passwordRotation = new RedisPasswordRotation(this, 'PasswordRotation', {
      users: [this.defaultUser, ...appEnvUsers.values()],
      automaticallyAfter: Duration.days(config.passwordRotationDays),
      rotationTag: config.replicationGroupId,
      encryptionKey,
      logRetention: config.logRetentionDays as logs.RetentionDays,
    });
    this.keyEncryptionKeys = new Map(
      [...appEnvUsers.keys()].map((name) => [name, new SigningKeyEncryptionSecret(this, `Kek-${name}`, { appEnvName: name, encryptionKey })]),
    );
    this.kekRotation = new KeyEncryptionKeyRotation(this, 'KekRotation', {
      secrets: new Map([...this.keyEncryptionKeys].map(([name, kek]) => [name, kek.secret])),
      automaticallyAfter: Duration.days(config.kekRotationDays),
      rotationTag: config.replicationGroupId,
      encryptionKey,
      logRetention: config.logRetentionDays as logs.RetentionDays,
    });

    const userGroup = new CfnUserGroup(this, 'UserGroup', {
      engine: config.engine,
      userGroupId: config.userGroupId,
      userIds: [this.defaultUser, ...appEnvUsers.values()].map((user) => user.resource.ref),
    });
    this.userGroupId = userGroup.ref;

    const logDelivery = (['slow-log', 'engine-log'] as const).map((logType) => {
      const logGroup = new logs.LogGroup(this, logType === 'slow-log' ? 'SlowLog' : 'EngineLog', {
        retention: config.logRetentionDays as logs.RetentionDays,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      return {
        destinationType: 'cloudwatch-logs',
        logFormat: 'json',
        logType,
        destinationDetails: { cloudWatchLogsDetails: { logGroup: logGroup.logGroupName } },
      };
    });

    this.resource = new CfnReplicationGroup(this, 'Resource', {
      replicationGroupId: config.replicationGroupId,
      replicationGroupDescription: `kcc-redis: Keycloak connector cluster sync (RBAC user group ${config.userGroupId}, TLS required)`,
      engine: config.engine,
      engineVersion: config.engineVersion,
      cacheNodeType: config.nodeType,
      port: config.port,
      clusterMode: this.clusterMode ? 'enabled' : 'disabled',
      cacheParameterGroupName: this.clusterMode ? clusterModeParameterGroup(config.engine, config.engineVersion) : undefined,
      numNodeGroups: config.shards,
      replicasPerNodeGroup: config.replicas,
      automaticFailoverEnabled: config.replicas > 0 || this.clusterMode,
      multiAzEnabled: this.multiAz,
      transitEncryptionEnabled: true,
      transitEncryptionMode: 'required',
      atRestEncryptionEnabled: true,
      kmsKeyId: encryptionKey?.keyArn,
      userGroupIds: [userGroup.ref],
      cacheSubnetGroupName: subnetGroup.ref,
      securityGroupIds: [securityGroup.securityGroupId],
      snapshotRetentionLimit: config.snapshotRetentionDays,
      snapshotWindow: config.snapshotWindow,
      preferredMaintenanceWindow: config.maintenanceWindow,
      autoMinorVersionUpgrade: true,
      logDeliveryConfigurations: logDelivery,
    });
    this.replicationGroupId = this.resource.ref;
    this.passwordRotation.startAfter(this.resource);
  }

  /** The user of one app-env; throws naming the known ones when it does not exist. */
  appEnvUser(app: string, env: string): RbacPasswordUser {
    const appEnv: AppEnv = { app, env };
    const user = this.appEnvUsers.get(appEnvUserName(appEnv));
    if (!user) {
      throw new TypeError(`No Redis user for app "${app}" env "${env}"; known: ${[...this.appEnvUsers.keys()].join(', ')}`);
    }
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

function toPeer(peer: AllowedPeer): ec2.IPeer {
  if (peer.kind === 'securityGroup') return ec2.Peer.securityGroupId(peer.securityGroupId);
  return peer.ipVersion === 4 ? ec2.Peer.ipv4(peer.cidr) : ec2.Peer.ipv6(peer.cidr);
}
