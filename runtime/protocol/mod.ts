/**
 * The message catalogue, addresses, the pipeline's stages, boundary schemas and secret detection: the one
 * vocabulary of the runtime, the plugins and the UI. Depends on nothing else in the project.
 * @module
 */
export * from './errors.ts';
export * from './address.ts';
export * from './clock.ts';
export * from './messages.ts';
export * from './frames.ts';
export * from './schemas.ts';
export * from './secrets.ts';
export * from './typos.ts';
export * from './protected.ts';
export * from './limits.ts';
export * from './stages.ts';
