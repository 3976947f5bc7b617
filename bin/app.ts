#!/usr/bin/env node
/** The CDK app: `cdk synth` / `cdk deploy` run this (cdk.json "app"). */
import { configErrorReport, configOrigin, kccFromCommandLine } from '../cli/cdk-app.js';
import { buildApp } from '../infra/index.js';

try {
  // -c kcc='<json>' arrives as a string: parsed here, it takes precedence as the CLI's value would.
  const postCliContext = kccFromCommandLine(process.env);
  buildApp(postCliContext ? { postCliContext } : {});
} catch (error) {
  const report = configErrorReport(error, configOrigin(process.env));
  if (report === undefined) throw error;
  process.stderr.write(report);
  process.exitCode = 1;
}
