// Memory bombs through the real server: a task whose generated code blows up its memory fails with
// reason 'memory' while /api/health keeps answering, and the next task still validates.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { api, finished, startServer, tempDir, waitFor } from '../helpers/server.ts';

const bombs: Record<string, string> = {
  'a growing array of arrays': 'export function hoard() { const keep = []; for (;;) keep.push(new Array(100000).fill(1)); }',
  'Array(1e9).fill(0)': 'export function hoard() { return Array(1e9).fill(0); }',
};

const HEALTH_BOUND_MS = 15_000;

test('memory bombs fail their tasks with reason memory while /api/health keeps answering', async () => {
  const transcripts = tempDir('orch-bombs-');
  const names = Object.keys(bombs);
  names.forEach((name, index) => {
    const code = `\`\`\`js file=src/bomb.js\n${bombs[name]}\n\`\`\`\n\`\`\`js file=src/bomb.test.js\nimport { hoard } from "./bomb.js";\ndescribe("bomb", () => { it("hoards", () => { expect(hoard()).toBeDefined(); }); });\n\`\`\``;
    writeFileSync(join(transcripts, `bomb${index}.json`), JSON.stringify({
      id: `bomb${index}`,
      title: `Memory bomb: ${name}`,
      requirement: `Write a hoarding function number ${index} with tests`,
      turns: {
        enhancer: ['Export hoard(); test it.'],
        analyst: ['{"complexity":"simple","kind":"code","summary":"hoard memory"}'],
        implementer: [code],
      },
    }));
  });
  const server = await startServer({ env: { ORCHESTRATOR_PROVIDER: `transcripts:${transcripts}` } });
  const health: number[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const started = Date.now();
      const { status } = await api(server, '/api/health');
      health.push(status);
      // A safety limit, not a speed: a bomb that took the server's event loop (or the server) down would
      // leave this unanswered; a busy machine only makes it slower.
      assert.ok(Date.now() - started < HEALTH_BOUND_MS, `health unanswered for ${Date.now() - started} ms while a bomb ran`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  try {
    for (let index = 0; index < names.length; index++) {
      const { body } = await api(server, '/api/requirements', { body: { requirement: `Write a hoarding function number ${index} with tests` } });
      const task = await finished(server, body.taskId, 90_000);
      assert.is(task.status, 'failed', names[index]);
      assert.is(task.error.reason, 'memory', `${names[index]}: ${JSON.stringify(task.error)}`);
      assert.is(task.report.reason, 'memory');
    }
  } finally {
    polling = false;
    await poller;
    await server.stop();
  }
  assert.ok(health.length >= 5, `health was polled ${health.length} times`);
  assert.ok(health.every((status) => status === 200), `every health check answered 200: ${health.join(',')}`);
});

/** The server's sandbox workers (its children running sandbox/_worker.ts), from /proc. */
function sandboxWorkers(pid: number): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== pid) continue;
      if (/sandbox[/\\]_worker\.ts/.test(readFileSync(`/proc/${name}/cmdline`, 'utf8'))) found.push(Number(name));
    } catch {
      // it exited while we looked
    }
  }
  return found;
}

test('/api/health says degraded while the sandbox cannot run its known-good probe, and ok once it can', async () => {
  const server = await startServer({ env: { ORCHESTRATOR_PROVIDER: 'demo' } });
  const sandboxHealth = async () => {
    const { status, body } = await api(server, '/api/health');
    return { status, sandbox: body.sandbox };
  };
  let killer: ReturnType<typeof setInterval> | undefined;
  try {
    // The first probe runs at start; health reports it.
    const first = await waitFor('a first probe', async () => ((await sandboxHealth()).sandbox.status === 'ok' ? sandboxHealth() : null), 60_000);
    assert.is(first.status, 200);
    // Every sandbox worker is SIGKILLed as it starts: the sandbox cannot run code.
    killer = setInterval(() => {
      for (const pid of sandboxWorkers(server.proc.pid!)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    }, 10);
    const down = await waitFor('health degraded', async () => {
      const health = await sandboxHealth();
      return health.status === 503 && health.sandbox.status === 'failing' ? health : null;
    }, 90_000);
    assert.match(down.sandbox.message, /sandbox|worker/i, JSON.stringify(down.sandbox));
    clearInterval(killer);
    killer = undefined;
    const back = await waitFor('health ok again', async () => {
      const health = await sandboxHealth();
      return health.status === 200 && health.sandbox.status === 'ok' ? health : null;
    }, 90_000);
    assert.is(back.sandbox.driver, 'node-process');
  } finally {
    if (killer) clearInterval(killer);
    await server.stop();
  }
});

test.run();
