/**
 * The supervisor: the XState root actor over one pool per agent plugin (one mailbox, N instances),
 * restarting a crashed instance alone with backoff, failing a pool past its restart intensity, and
 * keeping each pool's and instance's status and counts as its own state.
 * @module
 */
export { poolSize, startSupervisor } from './supervisor.ts';
export type { ConcurrencyOptions, SharedCapabilities, Supervisor, SupervisorOptions } from './supervisor.ts';
export { SUPERVISOR_MACHINE_VERSION, defaultPolicy, instanceId, supervisorMachine } from './machine.ts';
export type { PoolSpec, SupervisorPolicy } from './machine.ts';
