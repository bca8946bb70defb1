import { parseArgs } from 'node:util';
import { errorMessage } from '../protocol/mod.ts';
import { resolveConfig, startApp, VERSION } from '../server/mod.ts';
import { launchCommand } from './launch.ts';

const HELP = `runtime — Orchestrator: AI agents turn a requirement into validated code

Usage:
  runtime start [--port N] [--host H] [--data-dir DIR] [--workers N] [--cache-size N] [--cache-ttl S]
  runtime launch claude|codex [--data-dir DIR] [--port N] [--bin PATH] [-- client args]
  runtime --version | --help

Commands:
  start        serve the HTTP API, the dashboard and /ws (foreground; Ctrl-C stops it)
  launch       run Claude Code or Codex CLI through the gateway, starting a server if none runs
               (runtime launch --help)

Options:
  --port N       port (default 8100, env ORCHESTRATOR_PORT; 0 picks a free one)
  --host H       address to bind (default 127.0.0.1, env ORCHESTRATOR_HOST)
  --data-dir D   where the database, workspace/ and completed_archive/ live (default .orchestrator, env ORCHESTRATOR_DATA_DIR)
  --workers N    tasks that run at once (default 2, env ORCHESTRATOR_WORKERS)
  --cache-size N entries in the gateway's in-memory cache (default 1000, env ORCHESTRATOR_CACHE_SIZE)
  --cache-ttl S  seconds a cached answer lives (default 3600, 0 turns the cache off, env ORCHESTRATOR_CACHE_TTL)

Models: set ANTHROPIC_API_KEY, OPENAI_API_KEY or DEEPSEEK_API_KEY (or a local server in
orchestrator.config.json); without any, the bundled demo transcripts answer, labelled DEMO.
The gateway serves /v1/messages, /v1/chat/completions and /v1/responses on the same port.

Examples:
  runtime start
  runtime start --port 8200 --data-dir /tmp/orch
  runtime launch claude -- -p "explain this repo"
  curl -s localhost:8100/api/requirements -H 'content-type: application/json' -d '{"requirement":"Write a fizzbuzz module with tests"}'
`;

async function main(argv: string[]): Promise<number> {
  // launch has its own options, and everything after its "--" belongs to the client.
  if (argv[0] === 'launch') return launchCommand(argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      workers: { type: 'string' },
      'cache-size': { type: 'string' },
      'cache-ttl': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
  if (values.version) return void console.log(VERSION), 0;
  const command = positionals[0];
  if (values.help || !command) return void console.log(HELP), values.help ? 0 : 1;
  if (command !== 'start') {
    console.error(`runtime: unknown command "${command}"; run "runtime --help" for the commands`);
    return 2;
  }
  const config = resolveConfig({ port: values.port, host: values.host, dataDir: values['data-dir'], workers: values.workers, cacheSize: values['cache-size'], cacheTtl: values['cache-ttl'] }, process.env);
  const app = await startApp(config);
  // Machine-readable line for scripts and tests that start the server on port 0.
  console.log(JSON.stringify({ ts: new Date().toISOString(), level: 'info', msg: 'listening', url: app.url, port: app.server.port }));
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      app.stop().then(resolve, resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`runtime: ${errorMessage(error)}`);
    process.exit(1);
  },
);
