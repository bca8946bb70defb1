// diagnostics, reset and archive prune through the real binary. The diagnostics bundle is built from
// a server and logs that hold canary keys (env, .env, a provider's apiKeyEnv, a leaked log line); no
// canary may appear anywhere in it. ~8 s (a daemon and a sandbox health check).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { untarGz } from '../../runtime/cli/_tar.ts';
import { cleanup, runtime, show, tempDir } from './_run.ts';

const CANARIES = {
  ANTHROPIC_API_KEY: 'sk-ant-canary-env-0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e',
  OPENAI_API_KEY: 'canary-dotenv-openai-9f8e7d6c5b4a39281706f5e4',
  LOCAL_LLM_API_KEY: 'canary-token-local-41c7a2e9d05b3f68',
};

const cwd = tempDir('orch-cli-bundle-');
const dataDir = join(cwd, 'data');
const d = ['--data-dir', dataDir];
const env = { ANTHROPIC_API_KEY: CANARIES.ANTHROPIC_API_KEY, LOCAL_LLM_API_KEY: CANARIES.LOCAL_LLM_API_KEY };

test.after(() => cleanup(dataDir));

test('diagnostics: versions, config, health, stats and logs in a tar.gz with no canary secret anywhere', async () => {
  writeFileSync(join(cwd, '.env'), `OPENAI_API_KEY="${CANARIES.OPENAI_API_KEY}"\n`);
  writeFileSync(join(cwd, 'orchestrator.config.json'), JSON.stringify({ providers: { local: { baseUrl: 'http://127.0.0.1:9/v1', apiKeyEnv: 'LOCAL_LLM_API_KEY' } } }));
  const start = await runtime(['start', '--daemon', '--port', '0', ...d], { cwd, env });
  assert.is(start.code, 0, show(start));
  // A leak the redaction must catch: a key that reached a log line, and one in a crash dump.
  appendFileSync(join(dataDir, 'logs/server.log'), JSON.stringify({ ts: new Date().toISOString(), level: 'error', msg: `upstream rejected key ${CANARIES.ANTHROPIC_API_KEY} (Authorization: Bearer ${CANARIES.OPENAI_API_KEY})` }) + '\n');
  appendFileSync(join(dataDir, 'logs/daemon.out'), `Error: env dump LOCAL_LLM_API_KEY=${CANARIES.LOCAL_LLM_API_KEY}\n`);

  const output = join(cwd, 'diag.tar.gz');
  const run = await runtime(['diagnostics', ...d, '--output', output, '--json'], { cwd, env, timeoutMs: 30_000 });
  assert.is(run.code, 0, show(run));
  const entries = untarGz(readFileSync(output));
  const names = entries.map((e) => e.name.replace('orchestrator-diagnostics/', ''));
  for (const name of ['versions.json', 'config.json', 'health.json', 'stats.json', 'logs/server.log', 'logs/daemon.out']) assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
  const all = entries.map((e) => e.content.toString('utf8')).join('\n');
  for (const [name, value] of Object.entries(CANARIES)) {
    assert.not.ok(all.includes(value), `${name}'s value is not in the bundle`);
    assert.not.ok(all.includes(value.slice(0, 14)), `no prefix of ${name} either`);
    assert.not.ok(all.includes(value.slice(-10)), `no suffix of ${name} either`);
  }
  const text = (name: string) => entries.find((e) => e.name.endsWith(name))!.content.toString('utf8');
  assert.match(text('logs/server.log'), 'upstream rejected key [REDACTED ANTHROPIC_API_KEY]');
  assert.match(text('logs/daemon.out'), 'LOCAL_LLM_API_KEY=[REDACTED LOCAL_LLM_API_KEY]');
  const config = JSON.parse(text('config.json'));
  assert.is(config.config.providers.find((p: { name: string }) => p.name === 'openai').keyStatus, `set (OPENAI_API_KEY, ${CANARIES.OPENAI_API_KEY.length} chars)`);
  assert.is(config.config.providers.find((p: { name: string }) => p.name === 'local').keyStatus, `set (LOCAL_LLM_API_KEY, ${CANARIES.LOCAL_LLM_API_KEY.length} chars)`);
  assert.is(JSON.parse(text('versions.json')).node, process.versions.node);
  assert.ok(JSON.parse(text('stats.json')).health.version, 'stats come from the running server');
  assert.ok(JSON.parse(text('health.json')).checks.some((c: { name: string; status: string }) => c.name === 'server' && c.status === 'pass'));
});

test('reset refuses while the server runs; after stop it backs up workspace, archive and logs, then clears them', async () => {
  mkdirSync(join(dataDir, 'workspace/t-old/src'), { recursive: true });
  writeFileSync(join(dataDir, 'workspace/t-old/src/a.js'), 'export const a = 1;\n');
  const refused = await runtime(['reset', '--yes', ...d], { cwd });
  assert.is(refused.code, 1);
  assert.match(refused.stderr, 'stop it first with "runtime stop');
  assert.ok(existsSync(join(dataDir, 'workspace/t-old/src/a.js')), 'nothing was removed');
  assert.is((await runtime(['stop', ...d], { cwd })).code, 0);
  const noYes = await runtime(['reset', ...d], { cwd });
  assert.is(noYes.code, 2, 'not a terminal: --yes is required');
  const run = await runtime(['reset', '--yes', ...d, '--json'], { cwd });
  assert.is(run.code, 0, show(run));
  const out = JSON.parse(run.stdout);
  const backup = untarGz(readFileSync(out.backup));
  assert.is(backup.find((e) => e.name === 'workspace/t-old/src/a.js')?.content.toString(), 'export const a = 1;\n');
  assert.ok(backup.some((e) => e.name === 'logs/server.log'));
  assert.equal(readdirSync(join(dataDir, 'workspace')), []);
  assert.equal(readdirSync(join(dataDir, 'logs')), []);
  assert.ok(existsSync(join(dataDir, 'orchestrator.db')), 'the database is kept');
});

test('archive prune --older-than removes only archives older than the age', async () => {
  const archive = join(dataDir, 'completed_archive');
  for (const [id, days] of [['t-old', 40], ['t-new', 1]] as const) {
    mkdirSync(join(archive, id), { recursive: true });
    writeFileSync(join(archive, id, 'manifest.json'), '{}');
    const when = new Date(Date.now() - days * 86_400_000);
    utimesSync(join(archive, id, 'manifest.json'), when, when);
  }
  const dry = JSON.parse((await runtime(['archive', 'prune', '--older-than', '30d', '--dry-run', ...d, '--json'], { cwd })).stdout);
  assert.equal(dry.removed.map((r: { taskId: string }) => r.taskId), ['t-old']);
  assert.ok(existsSync(join(archive, 't-old')));
  const run = await runtime(['archive', 'prune', '--older-than', '30d', ...d], { cwd });
  assert.is(run.code, 0, show(run));
  assert.match(run.stdout, 'removed 1 archive(s)');
  assert.equal(readdirSync(archive).sort(), ['t-new']);
});

test.run();
