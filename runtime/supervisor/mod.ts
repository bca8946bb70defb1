/**
 * The supervisor: the XState root actor that spawns one child per agent plugin, restarts crashed
 * agents with backoff, escalates, and keeps each agent's status and counts as its own state.
 * @module
 */
export { startSupervisor } from './supervisor.ts';
export type { SharedCapabilities, Supervisor, SupervisorOptions } from './supervisor.ts';
export { SUPERVISOR_MACHINE_VERSION, defaultPolicy, supervisorMachine } from './machine.ts';
export type { SupervisorPolicy } from './machine.ts';
