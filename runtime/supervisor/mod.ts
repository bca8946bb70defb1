/**
 * The supervisor: the root of the supervision tree. Its XState root actor owns the agents subtree (one
 * pool per agent plugin: one mailbox, N instances), restarting a crashed instance alone with backoff,
 * failing a pool past its restart intensity, and keeping each instance's life (generation, restarts,
 * last error) as its own state; which request each instance serves is a ledger beside it
 * (_ledger.ts). The tasks subtree's actors are its children too (createChild). `tree()` is the whole
 * tree as data.
 * @module
 */
export { poolSize, startSupervisor } from './supervisor.ts';
export type { ConcurrencyOptions, SharedCapabilities, Supervisor, SupervisorOptions } from './supervisor.ts';
export { SUPERVISOR_MACHINE_VERSION, defaultPolicy, instanceId, supervisorMachine } from './machine.ts';
export type { PoolSpec, SupervisorPolicy } from './machine.ts';
export { actorTree, strategies } from './tree.ts';
export type { TasksSubtree } from './tree.ts';
