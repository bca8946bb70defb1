// `runtime stop` drains: a task mid-stage finishes that stage before the server exits, and resumes
// at the next start; a server that does not stop in time (SIGSTOPped here) is killed and its files
// removed; restart keeps the port. Slow-ish (~40 s): the demo answers after a delay on purpose.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { alive, cleanup, runtime, serverJson, show, tempDir } from './_run.ts';
import { api, waitFor } from '../helpers/server.ts';

const dataDir = join(tempDir('orch-cli-drain-'), 'data');
const d = ['--data-dir', dataDir];
// Each demo answer takes 6 s, so the task's three model stages keep it mid-pipeline for about 18 s:
// room for `runtime stop` to start and deliver its SIGTERM on a busy machine, where a Node start alone
// can take several seconds (at load 15 on 2 cores, 2 s stages let the task finish before the SIGTERM).
const slow = { ORCHESTRATOR_DEMO_DELAY_MS: '6000' };

test.after(() => cleanup(dataDir));

async function task(id: string) {
  return JSON.parse((await runtime(['tasks', 'show', id, ...d, '--json'], { env: slow })).stdout);
}

test('stop waits for the running stage, the task resumes at the next start and completes', async () => {
  assert.is((await runtime(['start', '--daemon', '--port', '0', ...d], { env: slow })).code, 0);
  const submit = await runtime(['submit', 'Write a fizzbuzz module with tests', ...d, '--json'], { env: slow });
  const id = JSON.parse(submit.stdout).id;
  // Polled through the API (a `runtime tasks show` per poll would spend the stage's time starting Node).
  const url = serverJson(dataDir)!.url;
  await waitFor('the task to run', async () => (await api({ url }, `/api/tasks/${id}`)).body.status === 'running', 60_000);
  const stop = await runtime(['stop', ...d, '--json'], { env: slow });
  assert.is(stop.code, 0, show(stop));
  const out = JSON.parse(stop.stdout);
  assert.equal([out.stopped, out.forced], [true, false]);
  const log = readFileSync(join(dataDir, 'logs/server.log'), 'utf8');
  assert.match(log, /SIGTERM: stopping \(draining up to \d+ s/);
  assert.match(log, 'drained: 1 task(s) finished their stage');

  assert.is((await runtime(['start', '--daemon', '--port', '0', ...d], { env: slow })).code, 0);
  const after = await waitFor('the resumed task to complete', async () => {
    const t = await task(id);
    return t.status === 'completed' || t.status === 'failed' ? t : null;
  }, 60_000);
  assert.is(after.status, 'completed', JSON.stringify(after.error));
  assert.match(readFileSync(join(dataDir, 'logs/server.log'), 'utf8'), /resumed 1 unfinished task/);
});

test('restart keeps the port; a server that does not stop within --timeout is killed and its files removed', async () => {
  const before = serverJson(dataDir)!;
  const restart = await runtime(['restart', ...d, '--json'], { env: slow });
  assert.is(restart.code, 0, show(restart));
  const now = JSON.parse(restart.stdout);
  assert.is(now.port, before.port);
  assert.is(now.previousPid, before.pid);
  assert.is.not(now.pid, before.pid);

  process.kill(now.pid, 'SIGSTOP'); // it cannot handle SIGTERM now
  const stop = await runtime(['stop', ...d, '--timeout', '1', '--json'], { env: slow });
  const out = JSON.parse(stop.stdout);
  assert.equal([out.stopped, out.forced], [true, true], show(stop));
  assert.ok(out.ms >= 1000);
  assert.not.ok(alive(now.pid));
  assert.not.ok(existsSync(join(dataDir, 'server.json')), 'a killed server cannot remove server.json: stop does');
  const again = await runtime(['stop', ...d]);
  assert.match(again.stdout, 'no server was running');
});

test.run();
