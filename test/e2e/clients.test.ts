// SLOW SUITE: the real Claude Code CLI and the real Codex CLI as clients of our gateway.
// `runtime launch claude|codex` points them at a real server (child process) whose providers are the
// fake upstream, so nothing leaves the machine. The clients (~750 MB) are installed on demand into
// .cache/clients by test/clients/install.ts: the first run downloads them from the npm registry,
// later runs reuse them. If that install fails, the client tests fail with npm's reason.
// Shown here: Claude Code's tool-use round trip in print mode (the tool really runs: its result
// reaches the upstream), the replay of that session from the gateway's cache, Codex exec over the
// Responses API with the server's key upstream, usage per client, and launch's own wiring (starting
// a server, reusing it, env, args, exit codes) with stand-in clients.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFakeUpstream, type FakeUpstream, type RecordedRequest } from '../fakes/upstream.ts';
import { ROOT, api, startServer, tempDir, waitFor, type StartedServer } from '../helpers/server.ts';
import { installClients, type InstalledClients } from '../clients/install.ts';
import { runtime, type Run } from '../cli/_run.ts';

const ANTHROPIC_KEY = 'sk-ant-server-key-test';
const OPENAI_KEY = 'sk-server-openai-key-test';
// A safety limit against a hung client, not a speed: a client run takes seconds, several times that on a busy machine.
const CLIENT_TIMEOUT_MS = 180_000;

let fake: FakeUpstream;
let server: StartedServer;
const scratch: string[] = [];
const temp = (prefix: string) => {
  const dir = tempDir(prefix);
  scratch.push(dir);
  return dir;
};

let installing: Promise<InstalledClients> | undefined;
/** The installed clients; a failed install fails each test that needs them, with npm's reason. */
function clients(): Promise<InstalledClients> {
  installing ??= installClients({ log: (line) => console.log(`  ${line}`) });
  return installing.catch((error) => {
    throw new Error(`the Claude Code / Codex CLIs could not be installed into .cache/clients: ${(error as Error).message}`);
  });
}

test.before(async () => {
  fake = await startFakeUpstream();
  server = await startServer({ env: { ANTHROPIC_BASE_URL: fake.url, OPENAI_BASE_URL: `${fake.url}/v1`, ANTHROPIC_API_KEY: ANTHROPIC_KEY, OPENAI_API_KEY: OPENAI_KEY } });
});

test.after(async () => {
  await server?.stop();
  await fake?.close();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** `runtime launch …` in a bare environment (no provider keys of the developer's shell), stdin closed. */
function launch(args: string[], options: { cwd: string; env: Record<string, string> }): Promise<Run> {
  return runtime(['launch', ...args], { cwd: options.cwd, env: { PATH: '/usr/bin:/bin', TERM: 'dumb', LANG: 'C.UTF-8', ...options.env }, bareEnv: true, timeoutMs: CLIENT_TIMEOUT_MS });
}

const posts = (path: RegExp) => fake.requests.filter((r) => r.method === 'POST' && path.test(r.path));
const usageOf = async (agent: string) => (await api(server, '/api/usage')).body.byAgent[agent] ?? { calls: 0, cachedCalls: 0 };
const show = (run: Run) => `exit ${run.code}\nstdout: ${run.stdout.slice(0, 3000)}\nstderr: ${run.stderr.slice(0, 3000)}`;

function hasToolResult(request: RecordedRequest, marker: string): boolean {
  const messages = (request.body as { messages?: Array<{ content: unknown }> }).messages ?? [];
  return messages.some((m) => Array.isArray(m.content) && m.content.some((b: any) => b?.type === 'tool_result' && JSON.stringify(b.content).includes(marker)));
}

/** Paths in which two request bodies differ (at most 12): what kept the cache from hitting. */
function differingFields(a: RecordedRequest, b: RecordedRequest): string[] {
  const out: string[] = [];
  const walk = (x: unknown, y: unknown, path: string): void => {
    if (out.length >= 12 || JSON.stringify(x) === JSON.stringify(y)) return;
    if (x && y && typeof x === 'object' && typeof y === 'object' && Array.isArray(x) === Array.isArray(y)) {
      const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
      for (const key of keys) walk((x as Record<string, unknown>)[key], (y as Record<string, unknown>)[key], `${path}.${key}`);
    } else out.push(`${path}: ${JSON.stringify(x)?.slice(0, 80)} vs ${JSON.stringify(y)?.slice(0, 80)}`);
  };
  walk(a.body, b.body, 'body');
  return out;
}

// --- Claude Code -------------------------------------------------------------------------------------

let claudeProject: string;
let claudeHome: string;
const FINAL = 'The file says MARKER-7Q2. Done.';

function claudeEnv(bin: string): Record<string, string> {
  return {
    HOME: claudeHome,
    ORCHESTRATOR_CLAUDE_BIN: bin,
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_AUTOUPDATER: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  };
}

function scriptClaude(file: string): void {
  // Read runs in print mode without a permission prompt (a read-only tool inside the working dir).
  fake.script(
    { match: { protocol: 'anthropic', hasToolResult: false }, times: 1, respond: { toolUse: { name: 'Read', input: { file_path: file } } } },
    { match: { protocol: 'anthropic', hasToolResult: true }, times: 1, respond: { text: FINAL } },
  );
}

const claudePrompt = ['-p', 'What does notes.txt say?', '--output-format', 'json'];

test('Claude Code (claude -p) through runtime launch: a tool-use round trip via the proxy, the server key upstream, usage under claude-code', async () => {
  const { claude } = await clients();
  claudeProject = temp('orch-claude-project-');
  claudeHome = temp('orch-claude-home-');
  const file = join(claudeProject, 'notes.txt');
  writeFileSync(file, 'MARKER-7Q2\n');
  fake.reset();
  scriptClaude(file);
  const before = await usageOf('claude-code');

  const run = await launch(['claude', '--data-dir', server.dataDir, '--', ...claudePrompt], { cwd: claudeProject, env: claudeEnv(claude) });
  console.log(`  claude -p (tool round trip): ${run.ms} ms`);
  assert.is(run.code, 0, show(run));
  assert.match(run.stderr, `using the Orchestrator server at ${server.url}`, 'launch reused the running server');
  const result = JSON.parse(run.stdout);
  assert.is(result.result, FINAL, show(run));
  assert.is(result.is_error, false);

  const messages = posts(/^\/v1\/messages(\?|$)/);
  assert.ok(messages.length >= 2, `≥ 2 POST /v1/messages reached the upstream, saw ${messages.length}`);
  assert.ok(!hasToolResult(messages[0], 'MARKER-7Q2'), 'the first request carries no tool result');
  assert.ok(hasToolResult(messages.at(-1)!, 'MARKER-7Q2'), 'the last request carries the Read tool_result with the file content');
  for (const request of messages) {
    assert.is(request.headers['x-api-key'], ANTHROPIC_KEY, "the server's key goes upstream, not the client's placeholder token");
    assert.match(request.headers['user-agent'], /claude-cli/);
    assert.is((request.body as { stream?: boolean }).stream, true);
  }
  const after = await usageOf('claude-code');
  assert.is(after.calls - before.calls, messages.length, 'every call counted under claude-code');
});

test('Claude Code: the same print-mode session again is answered from the gateway cache', async () => {
  const { claude } = await clients();
  assert.ok(claudeProject, 'the previous test ran');
  const firstRun = [...fake.requests];
  fake.reset();
  scriptClaude(join(claudeProject, 'notes.txt'));
  const stats = (await api(server, '/api/cache/stats')).body;
  const before = await usageOf('claude-code');

  const run = await launch(['claude', '--data-dir', server.dataDir, '--', ...claudePrompt], { cwd: claudeProject, env: claudeEnv(claude) });
  console.log(`  claude -p (again, from cache): ${run.ms} ms`);
  assert.is(run.code, 0, show(run));
  assert.is(JSON.parse(run.stdout).result, FINAL);

  const after = await usageOf('claude-code');
  const clientCalls = after.calls - before.calls;
  const hits = (await api(server, '/api/cache/stats')).body.hits - stats.hits;
  const upstream = posts(/^\/v1\/messages(\?|$)/);
  // What differs between the bodies of a call that missed and its counterpart of the first run.
  const why = upstream.map((r, i) => (firstRun[i] ? `request ${i} differs from the first run's in ${differingFields(firstRun[i], r).join('; ')}` : `request ${i}: new`)).join('; ');
  assert.ok(clientCalls >= 2, `Claude Code made its ≥ 2 calls (${clientCalls})`);
  assert.ok(hits >= 1, `at least one call was a cache hit (hits +${hits}; upstream saw ${upstream.length}; ${why})`);
  assert.ok(upstream.length < clientCalls, `fewer upstream requests (${upstream.length}) than client calls (${clientCalls}); ${why}`);
  assert.is(after.cachedCalls - before.cachedCalls, hits, 'the hits are counted as cached calls of claude-code');
});

// --- Codex -------------------------------------------------------------------------------------------

test('Codex (codex exec) through runtime launch: Responses API streamed via the proxy, the server key upstream, usage under codex', async () => {
  const { codex } = await clients();
  const project = temp('orch-codex-project-');
  const home = temp('orch-codex-home-');
  fake.reset();
  fake.script({ match: { protocol: 'openai-responses' }, times: 1, respond: { text: 'Hi from the fake upstream, via Orchestrator.' } });
  const before = await usageOf('codex');

  const args = ['exec', '--skip-git-repo-check', '-m', 'gpt-5-codex', '-c', 'analytics.enabled=false', '-c', 'features.plugins=false', 'say hi'];
  const run = await launch(['codex', '--data-dir', server.dataDir, '--', ...args], { cwd: project, env: { HOME: home, ORCHESTRATOR_CODEX_BIN: codex } });
  console.log(`  codex exec: ${run.ms} ms`);
  assert.is(run.code, 0, show(run));
  assert.match(run.stdout, 'Hi from the fake upstream, via Orchestrator.');
  assert.match(run.stderr, /provider: orchestrator/, "launch's -c model_provider reached codex exec");

  const responses = posts(/^\/v1\/responses$/);
  assert.ok(responses.length >= 1, `POST /v1/responses reached the upstream (${fake.requests.map((r) => `${r.method} ${r.path}`).join(', ')})`);
  for (const request of responses) {
    assert.is((request.body as { stream?: boolean }).stream, true);
    assert.is(request.headers.authorization, `Bearer ${OPENAI_KEY}`, "the server's key goes upstream, not the placeholder");
    assert.match(request.headers['user-agent'], /codex/);
  }
  const after = await usageOf('codex');
  assert.is(after.calls - before.calls, responses.length, 'every call counted under codex');

  // The same exec again, by the same user (same HOME) in another project folder: Codex's per-run ids
  // (client_metadata, msg_ ids) and the cwd are normalised away, so the gateway answers from its cache.
  const upstreamBefore = posts(/^\/v1\/responses$/).length;
  const again = await launch(['codex', '--data-dir', server.dataDir, '--', ...args], { cwd: temp('orch-codex-project-'), env: { HOME: home, ORCHESTRATOR_CODEX_BIN: codex } });
  assert.is(again.code, 0, show(again));
  assert.match(again.stdout, 'Hi from the fake upstream, via Orchestrator.');
  assert.is(posts(/^\/v1\/responses$/).length, upstreamBefore, 'the repeat was served from the cache');
  assert.ok((await usageOf('codex')).cachedCalls > after.cachedCalls, 'counted as a cached call');
});

// --- launch's own wiring, with stand-in clients ------------------------------------------------------

/** An executable that reports what it was given and exits with `code`. */
function standIn(dir: string, name: string, code: number): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\necho "BASE=$ANTHROPIC_BASE_URL"\necho "URL=$ORCHESTRATOR_URL"\necho "ANTHROPIC_KEY=$ANTHROPIC_API_KEY"\necho "ANTHROPIC_TOKEN=$ANTHROPIC_AUTH_TOKEN"\necho "GATEWAY_KEY=$ORCHESTRATOR_GATEWAY_KEY"\nfor a in "$@"; do echo "ARG=$a"; done\nexit ${code}\n`);
  chmodSync(path, 0o755);
  return path;
}

test('launch starts a server when none runs, reuses it next time, sets the env and passes the exit code through', async () => {
  const dir = temp('orch-launch-');
  const dataDir = join(dir, 'data');
  const claude = standIn(dir, 'claude', 3);
  const env = { HOME: dir, ORCHESTRATOR_CLAUDE_BIN: claude, ORCHESTRATOR_DEMO_DELAY_MS: '0' };
  let pid: number | undefined;
  try {
    const first = await launch(['claude', '--data-dir', dataDir, '--port', '0', '--', '-p', 'two words'], { cwd: dir, env });
    assert.is(first.code, 3, `the client's exit code is launch's\n${show(first)}`);
    const info = JSON.parse(readFileSync(join(dataDir, 'server.json'), 'utf8'));
    pid = info.pid;
    assert.match(first.stderr, `started the Orchestrator server at ${info.url} (pid ${info.pid}`);
    assert.is((await api(info, '/api/hello')).body.ok, true);
    assert.match(first.stdout, `BASE=${info.url}\n`);
    assert.match(first.stdout, `URL=${info.url}\n`);
    assert.match(first.stdout, 'ANTHROPIC_KEY=\nANTHROPIC_TOKEN=orchestrator-gateway\n', 'a placeholder token when the user has no key');
    assert.match(first.stdout, 'ARG=-p\nARG=two words\n');

    const second = await launch(['claude', '--data-dir', dataDir, '--', '-p', 'again'], { cwd: dir, env: { ...env, ANTHROPIC_API_KEY: 'sk-ant-users-own' } });
    assert.is(second.code, 3);
    assert.match(second.stderr, `using the Orchestrator server at ${info.url} (pid ${info.pid}`);
    assert.match(second.stdout, 'ANTHROPIC_KEY=sk-ant-users-own\nANTHROPIC_TOKEN=\n', "the user's own key is kept, no placeholder beside it");
  } finally {
    if (pid) {
      process.kill(pid, 'SIGTERM');
      await waitFor(`server pid ${pid} to exit`, async () => {
        try {
          process.kill(pid!, 0);
          return false;
        } catch {
          return true;
        }
      }, 15_000);
    }
  }
});

test('launch codex puts the gateway provider before the user args and the user key in ORCHESTRATOR_GATEWAY_KEY', async () => {
  const dir = temp('orch-launch-codex-');
  const codex = standIn(dir, 'codex', 0);
  const run = await launch(['codex', '--data-dir', server.dataDir, '--', 'exec', 'hi'], { cwd: dir, env: { HOME: dir, ORCHESTRATOR_CODEX_BIN: codex, OPENAI_API_KEY: 'sk-users-own' } });
  assert.is(run.code, 0, show(run));
  const args = [...run.stdout.matchAll(/^ARG=(.*)$/gm)].map((m) => m[1]);
  assert.equal(args, ['-c', 'model_provider=orchestrator', '-c', `model_providers.orchestrator={name="Orchestrator",base_url="${server.url}/v1",env_key="ORCHESTRATOR_GATEWAY_KEY",wire_api="responses",env_http_headers={"x-orchestrator-token"="ORCHESTRATOR_TOKEN"}}`, 'exec', 'hi']);
  assert.match(run.stdout, 'GATEWAY_KEY=sk-users-own\n');
  // The launch token travels in the environment, never on the command line (`ps` shows that).
  assert.ok(server.token && !args.join(' ').includes(server.token), 'token not in the arguments');
});

test('launch: an unknown client is exit 2 naming claude and codex; a missing binary says how to install it', async () => {
  const dir = temp('orch-launch-err-');
  const unknown = await launch(['gemini'], { cwd: dir, env: { HOME: dir } });
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, /unknown client "gemini": use claude or codex/);
  const missing = await launch(['codex', '--data-dir', join(dir, 'data')], { cwd: dir, env: { HOME: dir, PATH: dir } });
  assert.is(missing.code, 127);
  assert.match(missing.stderr, /Codex CLI not found: "codex" is not on PATH; install it with "npm install -g @openai\/codex"/);
  const help = await launch(['--help'], { cwd: dir, env: { HOME: dir } });
  assert.is(help.code, 0);
  assert.match(help.stdout, 'runtime launch claude -- -p');
});

test.run();
