export { type CfnResource, type CfnTemplate, parseTemplate } from './cfn-template.js';
export { type DataEffect, type DataFate, losesData } from './data-effects.js';
export { type OutputChange } from './output-diff.js';
export { PLAN_USAGE, type PlanIo, runPlanCommand } from './plan-command.js';
export { KccPlanError, type KccPlanErrorCode } from './plan-errors.js';
export { renderPlanTable } from './plan-report.js';
export { type ChangeAction, type PropertyCause, type ResourceChange, type UpdatePlan, planUpdate } from './plan-update.js';
export { type SynthesizeOptions, synthesizeCurrent, synthesizeWithContext } from './synthesize-current.js';
export { UpdateSpec, loadUpdateSpec } from './update-spec.js';
