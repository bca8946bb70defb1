/**
 * The server: wires store, workspace, bus, plugins, supervisor, tasks and sandbox, and serves the HTTP
 * API, the dashboard and /ws.
 * @module
 */
export { startApp, VERSION } from './app.ts';
export type { App, LogSink } from './app.ts';
export { resolveConfig, dataPaths } from './config.ts';
export type { ServerConfig } from './config.ts';
export { createHub } from './hub.ts';
export type { Hub, HubEvent, HubState, ServerFrame } from './hub.ts';
