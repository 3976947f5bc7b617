import { refuseRepeatedOptions } from '../args.js';
import type { Command } from '../command.js';
import { PLAN_OPTIONS } from '../../infra/plan/plan-options.js';

/** `kcc-redis plan`: its logic and options are infra/plan's; loaded on use (it brings aws-cdk-lib). */
export const planCommand: Command = {
  name: 'plan',
  summary: 'compare the deployed template with a synth of the current config: replaced, blocked, data lost',
  usage: 'kcc-redis plan --help',
  async run(argv, io) {
    refuseRepeatedOptions('plan', argv, PLAN_OPTIONS);
    const { runPlanCommand } = await import('../../infra/plan/index.js');
    return runPlanCommand(argv, io);
  },
};
