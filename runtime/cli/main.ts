import { parseArgs } from 'node:util';
import { errorMessage } from '../protocol/mod.ts';
import { resolveConfig, startApp, VERSION } from '../server/mod.ts';

const HELP = `runtime — Orchestrator: AI agents turn a requirement into validated code

Usage:
  runtime start [--port N] [--host H] [--data-dir DIR] [--workers N]
  runtime --version | --help

Commands:
  start        serve the HTTP API, the dashboard and /ws (foreground; Ctrl-C stops it)

Options:
  --port N       port (default 8100, env ORCHESTRATOR_PORT; 0 picks a free one)
  --host H       address to bind (default 127.0.0.1, env ORCHESTRATOR_HOST)
  --data-dir D   where the database, workspace/ and completed_archive/ live (default .orchestrator, env ORCHESTRATOR_DATA_DIR)
  --workers N    tasks that run at once (default 2, env ORCHESTRATOR_WORKERS)

Examples:
  runtime start
  runtime start --port 8200 --data-dir /tmp/orch
  curl -s localhost:8100/api/requirements -H 'content-type: application/json' -d '{"requirement":"Write a fizzbuzz module with tests"}'
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      workers: { type: 'string' },
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
  const config = resolveConfig({ port: values.port, host: values.host, dataDir: values['data-dir'], workers: values.workers }, process.env);
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
