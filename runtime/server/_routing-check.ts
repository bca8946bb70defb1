// Whether the routing file (when there is one) is one the server would start with: valid JSON of the
// right shape, known providers, and only roles some agent serves (plugins included).
import { existsSync } from 'node:fs';
import { errorMessage } from '../protocol/mod.ts';
import { loadRouting, unknownRoutedRoles } from '../llm/mod.ts';
import { loadPlugins } from '../plugin/mod.ts';
import { builtinAgents } from '../../agents/mod.ts';
import type { ServerConfig } from './config.ts';

/** The routing file's problem as a sentence (file, path, value and fix), or null when it is fine or absent. */
export async function routingProblem(config: ServerConfig): Promise<string | null> {
  if (!existsSync(config.routingFile)) return null;
  try {
    const routing = loadRouting(config.routingFile, config.providers.map((p) => p.name));
    const { loaded } = await loadPlugins({ builtins: builtinAgents, dirs: config.pluginDirs, configs: config.plugins });
    return unknownRoutedRoles(routing, loaded.map((l) => l.plugin.role))?.message ?? null;
  } catch (error) {
    return errorMessage(error);
  }
}
