import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { afterAll } from 'vitest';
import cdkJson from '../../cdk.json' with { type: 'json' };
import { type BuiltApp, buildApp } from '../../infra/index.js';

/**
 * The context of cdk.json (feature flags included) with the `kcc` config replaced. Asset bundling
 * (esbuild for the rotation function) is skipped: unit tests run no external program.
 * `test/integration/infra/rotation-bundle.test.ts` synthesizes with bundling.
 */
export function contextWith(kcc: unknown, options: { bundle?: boolean } = {}): Record<string, unknown> {
  return { ...cdkJson.context, kcc, ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) };
}

export interface Synthesized extends BuiltApp {
  readonly template: Template;
}

/** Builds the app exactly as `bin/app.ts` does, without synthesizing it (tests may add constructs). */
export function build(kcc: unknown = cdkJson.context.kcc): BuiltApp {
  return buildApp({ context: contextWith(kcc), outdir: outdir() });
}

/** An empty stack with an isolated VPC, for the constructs on their own (no asset bundling; the test file's cloud-assembly folder). */
export function bareStack(): { stack: Stack; vpc: ec2.IVpc } {
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] }, outdir: outdir() }), 'Bare');
  const vpc = new ec2.Vpc(stack, 'Vpc', { natGateways: 0, subnetConfiguration: [{ name: 'i', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }] });
  return { stack, vpc };
}

let testOutdir: string | undefined;
/** One cloud-assembly folder per test file, removed after it. */
export function outdir(): string {
  if (!testOutdir) {
    const dir = mkdtempSync(join(tmpdir(), 'kcc-synth-'));
    testOutdir = dir;
    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
      // Test files may share this module (unit project, isolate: false): the next one makes its own folder.
      if (testOutdir === dir) testOutdir = undefined;
    });
  }
  return testOutdir;
}

/** Builds the app exactly as `bin/app.ts` does, with the given `kcc` config, and synthesizes it. */
export function synth(kcc: unknown = cdkJson.context.kcc): Synthesized {
  // A synthesized app is read, never changed (tests that add constructs use build()): one synth per
  // config and worker, whichever test file asks (the unit project shares modules across its files).
  const key = JSON.stringify(kcc);
  let synthesized = synthesizedApps.get(key);
  if (!synthesized) {
    const built = build(kcc);
    synthesized = { ...built, template: Template.fromStack(built.stack) };
    synthesizedApps.set(key, synthesized);
  }
  return synthesized;
}

const synthesizedApps = new Map<string, Synthesized>();
