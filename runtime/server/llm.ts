// The model side of the server: runtime/llm assembles itself (createLlm); the server refuses a
// provider that points back at itself and adds the proxy over the same parts.
import { ErrorCode, RuntimeError } from '../protocol/mod.ts';
import type { LogLevel } from '../protocol/mod.ts';
import type { Bus } from '../bus/mod.ts';
import type { Store } from '../store/mod.ts';
import { createLlm } from '../llm/mod.ts';
import { proxyRoutes } from '../proxy/mod.ts';
import type { ServerConfig } from './config.ts';

/**
 * @example
 * const llm = startLlm(config, { store, bus, log, version: '0.2.0' });
 * llm.provider.complete(request); // the agents' model
 */
export function startLlm(config: ServerConfig, deps: { store: Store; bus: Bus; log: (level: LogLevel, text: string) => void; version: string; launchToken?: string }) {
  for (const spec of config.providers) {
    const url = new URL(spec.baseUrl);
    if (config.port !== 0 && /^(127\.0\.0\.1|localhost|\[::1\])$/.test(url.hostname) && Number(url.port) === config.port) {
      throw new RuntimeError(ErrorCode.Invalid, `provider ${spec.name}'s base URL ${spec.baseUrl} points at this server (port ${config.port}): that would loop; unset the base URL variable for the server (runtime launch sets it only for the client)`);
    }
  }
  const llm = createLlm(config, deps);
  const proxy = proxyRoutes({ ...llm.parts, bus: deps.bus, version: deps.version, launchToken: deps.launchToken });
  return { ...llm, proxy };
}

export type Llm = ReturnType<typeof startLlm>;
