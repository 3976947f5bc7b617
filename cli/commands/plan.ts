import { refuseRepeatedOptions } from '../args.js';
import type { Command } from '../command.js';

/** `kcc-redis plan`: its logic and options are infra/plan's; loaded on use (it brings aws-cdk-lib). */
export const planCommand: Command = {
  name: 'plan',
  summary: 'compare the deployed template with a synth of the current config: replaced, blocked, data lost',
  usage: 'kcc-redis plan --help',
  async run(argv, io) {
    // Its options (infra/plan/plan-command.ts): each at most once.
    refuseRepeatedOptions('plan', argv, { previous: { type: 'string' }, config: { type: 'string' }, json: { type: 'boolean' } });
    const { runPlanCommand } = await import('../../infra/plan/index.js');
    return runPlanCommand(argv, io);
  },
};
