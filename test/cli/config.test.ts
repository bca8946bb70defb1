// Configuration and start-up errors through the real binary: precedence (flags > env > .env >
// orchestrator.config.json > defaults), secrets masked, invalid config messages naming file, field,
// value and fix, a provider's apiKeyEnv limited to variables named like provider keys (*_API_KEY), and
// the port-in-use message naming the process that holds the port. Fast (~3 s).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { BIN, ROOT, cleanEnv, cleanup, runtime, show, tempDir } from './_run.ts';
import { readConfigFile } from '../../runtime/server/config.ts';
import { RuntimeError } from '../../runtime/protocol/mod.ts';

const CANARY = 'sk-ant-canary-7f3e9c1d2b4a6e8f0a1b2c3d4e5f6a7b';

function project(files: Record<string, string>): string {
  const dir = tempDir('orch-cli-config-');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

test('config: flags > env > .env > orchestrator.config.json > defaults, each with its source', async () => {
  const cwd = project({
    'orchestrator.config.json': JSON.stringify({ port: 9001, workers: 3, cache: { ttlSeconds: 60 }, logLevel: 'warn' }),
    '.env': `# comment\nexport ORCHESTRATOR_PORT=9002\nORCHESTRATOR_WORKERS="4"\nORCHESTRATOR_CACHE_TTL=5 # inline comment\nANTHROPIC_API_KEY='${CANARY}'\n`,
  });
  const both = JSON.parse((await runtime(['config', '--json', '--port', '9004'], { cwd, env: { ORCHESTRATOR_PORT: '9003' } })).stdout);
  assert.is(both.config.port, 9004);
  assert.is(both.sources.port, 'flag');
  const env = JSON.parse((await runtime(['config', '--json'], { cwd, env: { ORCHESTRATOR_PORT: '9003' } })).stdout);
  assert.equal([env.config.port, env.sources.port], [9003, 'env']);
  assert.equal([env.config.workers, env.sources.workers], [4, '.env']);
  assert.equal([env.config.cache.ttlSeconds, env.sources.cacheTtl], [5, '.env']);
  assert.equal([env.config.logLevel, env.sources.logLevel], ['warn', 'config file']);
  assert.equal([env.config.host, env.sources.host], ['127.0.0.1', 'default']);
  assert.is(env.files.env.exists, true);
  const anthropic = env.config.providers.find((p: { name: string }) => p.name === 'anthropic');
  assert.is(anthropic.keyStatus, `set (ANTHROPIC_API_KEY, ${CANARY.length} chars)`);
  const text = await runtime(['config'], { cwd });
  assert.is(text.code, 0, show(text));
  assert.match(text.stdout, /port\s+9002\s+\(\.env\)/);
  for (const out of [JSON.stringify(env), JSON.stringify(both), text.stdout, text.stderr]) {
    assert.not.match(out, CANARY.slice(0, 12), 'no fragment of the key is ever printed');
    assert.not.match(out, CANARY.slice(-8));
  }
});

test('invalid config: start and config exit 1 naming the file, the field, the value and the fix', async () => {
  const cwd = project({ 'orchestrator.config.json': JSON.stringify({ workers: 'lots', cache: { size: -1 } }) });
  const start = await runtime(['start', '--port', '0', '--data-dir', join(cwd, 'data')], { cwd });
  assert.is(start.code, 1, show(start));
  for (const part of [join(cwd, 'orchestrator.config.json'), 'fix the file']) assert.match(start.stderr, part);
  // One problem a line, in plain words: the field, what it must be, what it is.
  assert.match(start.stderr, /has 2 problems:\n  workers must be a number \(got "lots"\)\n  cache\.size must be at least 0 \(got -1\)\n/);
  const config = await runtime(['config'], { cwd });
  assert.is(config.code, 1);
  assert.match(config.stderr, 'invalid configuration');
  const typo = project({ 'orchestrator.config.json': JSON.stringify({ agents: { implementer: { concurency: 2 } }, logLevel: 'loud' }) });
  const hinted = await runtime(['config'], { cwd: typo });
  assert.match(hinted.stderr, /  agents\.implementer has unknown field\(s\) concurency \(did you mean 'concurrency'\?\): remove them/);
  assert.match(hinted.stderr, /  logLevel must be one of "debug", "info", "warn" or "error" \(got "loud"\)/);

  const badEnv = project({ '.env': 'ORCHESTRATOR_WORKERS=many\n' });
  const run = await runtime(['start', '--port', '0', '--data-dir', join(badEnv, 'data')], { cwd: badEnv });
  assert.is(run.code, 1, show(run));
  assert.match(run.stderr, `workers is "many" (from ORCHESTRATOR_WORKERS in ${join(badEnv, '.env')}): use an integer from 1 to 64`);

  const broken = project({ '.env': 'OK=1\nthis is not a setting\n' });
  const parse = await runtime(['config'], { cwd: broken });
  assert.is(parse.code, 1);
  assert.match(parse.stderr, `${join(broken, '.env')}:2: "this is not a setting" is not KEY=VALUE`);

  const flag = await runtime(['config', '--log-level', 'loud'], { cwd: project({}) });
  assert.match(flag.stderr, 'log level is "loud": use one of debug, info, warn, error (--log-level or ORCHESTRATOR_LOG_LEVEL)');
});

// Real providers' key variables, and one of the user's own: all end in _API_KEY.
const KEY_NAMES = [
  ...['ANTHROPIC_API_KEY', 'OPENAI_API_KEY', 'DEEPSEEK_API_KEY', 'GROQ_API_KEY', 'OPENROUTER_API_KEY', 'TOGETHER_API_KEY'],
  ...['MISTRAL_API_KEY', 'OLLAMA_API_KEY', 'AZURE_OPENAI_API_KEY', 'MY_LLM_API_KEY'],
];
// Secrets and settings of the machine that a config file must not have sent to a host it names.
const NOT_KEYS = [
  ...['GITHUB_TOKEN', 'GH_TOKEN', 'NPM_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'SSH_AUTH_SOCK', 'PATH', 'HOME'],
  ...['DATABASE_URL', 'API_KEY', 'openai_api_key', 'OPENAI_API_KEY_FILE'],
];

test('apiKeyEnv: only variables named like provider keys (*_API_KEY), for custom and built-in providers', () => {
  const dir = tempDir('orch-cli-keyenv-');
  const file = join(dir, 'orchestrator.config.json');
  const read = (providers: unknown): unknown => {
    writeFileSync(file, JSON.stringify({ providers }));
    try {
      return readConfigFile(file);
    } catch (error) {
      return error;
    }
  };
  for (const name of KEY_NAMES) {
    const result = read({ local: { baseUrl: 'http://127.0.0.1:9/v1', apiKeyEnv: name }, anthropic: { apiKeyEnv: name } });
    assert.not.instance(result, Error, `${name}: ${(result as Error).message}`);
  }
  for (const name of NOT_KEYS) {
    const entries = [['local', { baseUrl: 'http://127.0.0.1:9/v1', apiKeyEnv: name }], ['anthropic', { apiKeyEnv: name }]] as const;
    for (const [provider, entry] of entries) {
      const error = read({ [provider]: entry });
      assert.instance(error, RuntimeError, `${provider} ${name} was accepted`);
      const { message } = error as RuntimeError;
      // The field, the value (a variable's name, not a secret), the rule and the fix, and the file.
      const parts = [`providers.${provider}.apiKeyEnv`, `(got ${JSON.stringify(name)})`, 'ending in _API_KEY', 'GITHUB_TOKEN'];
      for (const part of [...parts, 'copy it into one that ends in _API_KEY', file]) {
        assert.ok(message.includes(part), `${provider} ${name}: the message lacks ${part}: ${message}`);
      }
    }
  }
});

test('apiKeyEnv naming another secret: start and config exit 1 without reading or printing it', async () => {
  const secret = 'ghp_canaryR3kq8VbW2mTz7YcXo1LpN5sDa9QeHf';
  const providers = { collector: { baseUrl: 'https://collector.example/v1', apiKeyEnv: 'GITHUB_TOKEN' } };
  const cwd = project({ 'orchestrator.config.json': JSON.stringify({ providers }) });
  for (const args of [['config'], ['start', '--port', '0', '--data-dir', join(cwd, 'data')]]) {
    const run = await runtime(args, { cwd, env: { GITHUB_TOKEN: secret } });
    assert.is(run.code, 1, show(run));
    for (const part of ['providers.collector.apiKeyEnv', '"GITHUB_TOKEN"', 'ending in _API_KEY', 'fix the file']) {
      assert.match(run.stderr, part);
    }
    assert.not.match(run.stdout + run.stderr, secret.slice(4, 14), 'the token is never printed');
  }
});

test('port in use: start (and start --daemon) names the process holding it and the flag to choose another', async () => {
  const holder: Server = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const port = (holder.address() as { port: number }).port;
  const dataDir = join(tempDir('orch-cli-port-'), 'data');
  try {
    const fg = await runtime(['start', '--port', String(port), '--data-dir', dataDir]);
    assert.is(fg.code, 1, show(fg));
    assert.match(fg.stderr, `port ${port} on 127.0.0.1 is in use by pid ${process.pid} (${process.execPath}`);
    assert.match(fg.stderr, '--port N');
    const daemon = await runtime(['start', '--daemon', '--port', String(port), '--data-dir', dataDir]);
    assert.is(daemon.code, 1, show(daemon));
    assert.match(daemon.stderr, `is in use by pid ${process.pid}`);
  } finally {
    holder.close();
    await cleanup(dataDir);
  }
});

test('usage errors exit 2 and name the help; unknown commands list the commands', async () => {
  const unknown = await runtime(['frobnicate']);
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, 'the commands are: start, stop, restart, status');
  const badFlag = await runtime(['status', '--bogus']);
  assert.is(badFlag.code, 2);
  assert.match(badFlag.stderr, 'see "runtime status --help"');
  const age = await runtime(['archive', 'prune', '--older-than', 'ages']);
  assert.is(age.code, 2);
  assert.match(age.stderr, '--older-than is "ages": use a number and a unit, e.g. 30d');
});

test('from a subfolder, the project root is found like git finds a repository: its config, .env and data dir; flags and variables stay relative to where they are typed', async () => {
  const root = project({
    'orchestrator.config.json': JSON.stringify({ port: 9011 }),
    '.env': 'ORCHESTRATOR_WORKERS=5\n',
  });
  const deep = join(root, 'docs', 'deep');
  mkdirSync(deep, { recursive: true });
  const found = JSON.parse((await runtime(['config', '--json'], { cwd: deep })).stdout);
  assert.equal([found.config.port, found.sources.port], [9011, 'config file']);
  assert.equal([found.config.workers, found.sources.workers], [5, '.env']);
  assert.is(found.config.dataDir, join(root, '.orchestrator'));
  assert.is(found.config.routingFile, join(root, 'model-routing.json'));
  const flag = JSON.parse((await runtime(['config', '--json', '--data-dir', 'here'], { cwd: deep })).stdout);
  assert.is(flag.config.dataDir, join(deep, 'here'), 'a flag is relative to the working directory');
  const variable = JSON.parse((await runtime(['config', '--json'], { cwd: deep, env: { ORCHESTRATOR_DATA_DIR: 'there' } })).stdout);
  assert.is(variable.config.dataDir, join(deep, 'there'));
  writeFileSync(join(root, 'orchestrator.config.json'), JSON.stringify({ dataDir: 'state' }));
  const fromFile = JSON.parse((await runtime(['config', '--json'], { cwd: deep })).stdout);
  assert.is(fromFile.config.dataDir, join(root, 'state'), "the config file's dataDir is relative to that file");
  // status looks for the server in the same data dir (so one started at the top is found from here).
  const status = await runtime(['status', '--json'], { cwd: deep });
  assert.equal(JSON.parse(status.stdout), { running: false, dataDir: join(root, 'state') });
});

test("bin.js starts under the machine's own Node (20 here), and re-runs itself on the pinned Node", async () => {
  // PATH under npm test puts node_modules/.bin (the pinned Node 24) first: take the first other node.
  const own = (process.env.PATH ?? '').split(':').filter((dir) => dir && !dir.includes('node_modules')).map((dir) => join(dir, 'node')).find((file) => existsSync(file));
  assert.ok(own, 'a node on PATH outside node_modules');
  const version = execFileSync(own!, ['--version'], { encoding: 'utf8' }).trim();
  const run = spawnSync(own!, [BIN, '--help'], { cwd: ROOT, encoding: 'utf8', env: cleanEnv() });
  assert.is(run.status, 0, `node ${version} runtime/cli/bin.js --help: ${run.stderr}`);
  assert.match(run.stdout, /^runtime — Orchestrator/);
  assert.not.match(run.stderr, /SyntaxError/);
});

test('UI origins are checked as origins: a path or trailing slash is refused naming the value, the fix and where it came from', async () => {
  const cwd = project({ 'orchestrator.config.json': JSON.stringify({ uiOrigins: ['http://127.0.0.1:5173'] }) });
  const ok = JSON.parse((await runtime(['config', '--json'], { cwd })).stdout);
  assert.equal(ok.config.uiOrigins, ['http://127.0.0.1:5173']);
  const env = JSON.parse((await runtime(['config', '--json'], { cwd, env: { ORCHESTRATOR_UI_ORIGINS: 'https://wiki.example, http://localhost:3000' } })).stdout);
  assert.equal(env.config.uiOrigins, ['https://wiki.example', 'http://localhost:3000']);
  const bad = await runtime(['config'], { cwd, env: { ORCHESTRATOR_UI_ORIGINS: 'https://wiki.example/' } });
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /UI origin "https:\/\/wiki\.example\/" is not an origin: .*did you mean https:\/\/wiki\.example\? \(--ui-origin, ORCHESTRATOR_UI_ORIGINS or "uiOrigins" in the config file\)/);
  const start = await runtime(['start', '--ui-origin', 'wiki.example', '--port', '0'], { cwd });
  assert.is(start.code, 1);
  assert.match(start.stderr, /UI origin "wiki\.example" is not an origin/);
});

test('a routing file the server would refuse fails runtime config, health and start with the reason: a misspelled role, broken JSON', async () => {
  const cwd = project({
    'orchestrator.config.json': '{}',
    'model-routing.json': JSON.stringify({ routes: { default: ['anthropic/claude-sonnet-4-5'], implementr: ['anthropic/claude-sonnet-4-5'] } }),
  });
  const env = { ANTHROPIC_API_KEY: CANARY };
  const text = await runtime(['config'], { cwd, env });
  assert.is(text.code, 1, show(text));
  assert.match(text.stdout, /routing +\S+model-routing\.json +INVALID/);
  assert.match(text.stdout, /routes\.implementr is not a role any agent serves \(did you mean 'implementer'\?\): the roles are analyst, enhancer, implementer/);
  const json = await runtime(['config', '--json'], { cwd, env });
  assert.is(json.code, 1);
  assert.match(JSON.parse(json.stdout).files.routing.error, /routes\.implementr is not a role/);
  const health = await runtime(['health', '--json'], { cwd, env });
  const check = JSON.parse(health.stdout).checks.find((c: { name: string }) => c.name === 'routing');
  assert.equal([check.status, /did you mean 'implementer'/.test(check.detail)], ['fail', true]);
  const start = await runtime(['start', '--port', '0'], { cwd, env });
  assert.is(start.code, 1);
  assert.match(start.stderr, /routes\.implementr is not a role any agent serves \(did you mean 'implementer'\?\)/);
  writeFileSync(join(cwd, 'model-routing.json'), '{ "routes": {');
  const broken = await runtime(['config'], { cwd, env });
  assert.is(broken.code, 1);
  assert.match(broken.stdout, /model-routing\.json: not valid JSON at line 1/);
  writeFileSync(join(cwd, 'model-routing.json'), JSON.stringify({ routes: { default: ['anthropic/claude-sonnet-4-5'], implementer: ['anthropic/claude-sonnet-4-5'] } }));
  const fine = await runtime(['config'], { cwd, env });
  assert.is(fine.code, 0, show(fine));
  assert.not.match(fine.stdout, /INVALID/);
  assert.not.ok(fine.stdout.includes(CANARY) || text.stdout.includes(CANARY) || start.stderr.includes(CANARY), 'no key in any output');
});

test.run();
