/**
 * The six built-in agents, one per pipeline role. Each is a `defineAgent` plugin: a drop-in plugin
 * serving the same role replaces it (see plugins/README.md).
 * @module
 */
import type { AnyAgentPlugin } from '../runtime/plugin/mod.ts';
import { analyst } from './analyst.ts';
import { enhancer } from './enhancer.ts';
import { implementer } from './implementer.ts';
import { integrator } from './integrator.ts';
import { reasoner } from './reasoner.ts';
import { validator } from './validator.ts';

/**
 * Every built-in agent, in pipeline order: pass them to loadPlugins as `builtins`.
 * @example const { loaded, failures } = await loadPlugins({ builtins: builtinAgents, dirs: ['plugins'] });
 */
export const builtinAgents: AnyAgentPlugin[] = [enhancer, analyst, reasoner, implementer, validator, integrator];

/**
 * The agents one by one, and the helpers tests and other agents reuse.
 * @example
 * const implementation = parseImplementation('```js file=src/a.js\nexport const a = 1;\n```');
 * findingsOf({ ok: false, reason: 'timeout', message: 'ran longer than 5000 ms' }); // ['timeout: ran longer than 5000 ms']
 */
export { analyst, AnalysisSchema, ANALYST_SYSTEM } from './analyst.ts';
export { enhancer, ENHANCER_SYSTEM } from './enhancer.ts';
export { implementer, implementerPrompt, parseImplementation, IMPLEMENTER_SYSTEM } from './implementer.ts';
export { integrator } from './integrator.ts';
export { reasoner, REASONER_SYSTEM } from './reasoner.ts';
export { validator, findingsOf, VALIDATION_LIMITS } from './validator.ts';
export { extractJson, firstObject, parseFiles } from './_parse.ts';
