// The same server on Deno 2: health, the first /ws snapshot, and a whole demo task validated by the
// Deno sandbox driver (QuickJS in a subprocess without permissions) — files land, the report passes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, api, finished, startServer, waitFor, watch } from '../helpers/server.ts';

const DENO = join(ROOT, 'node_modules/.bin/deno');

test('runtime start runs on Deno: /api/health, /ws snapshot, a demo task completes through the QuickJS driver', async () => {
  assert.ok(existsSync(DENO), 'the deno devDependency is installed');
  const server = await startServer({ command: [DENO, 'run', '-A', '--quiet', join(ROOT, 'runtime/cli/main.ts')] });
  try {
    const health = await api(server, '/api/health');
    assert.is(health.status, 200);
    assert.is(health.body.status, 'ok');
    const ws = await watch(server);
    const first = await waitFor('first frame', async () => ws.frames[0]);
    assert.is(first.type, 'snapshot');
    assert.ok(Object.keys(first.state.agents).length >= 6, 'agents in the snapshot');
    ws.close();

    const samples = (await api(server, '/api/demo')).body.samples;
    const { body } = await api(server, '/api/requirements', { body: { requirement: samples[0].requirement } });
    const task = await finished(server, body.taskId, 60_000);
    assert.is(task.status, 'completed', JSON.stringify(task.error ?? task).slice(0, 2000));
    assert.ok(task.files.length > 0, 'files landed in the workspace');
    assert.is(task.report.ok, true, 'the sandbox report passed');
    assert.ok(task.report.tests.length >= 5 && task.report.tests.every((t: { ok: boolean }) => t.ok), 'the generated tests ran and passed');
    assert.is(JSON.stringify(task).match(/"reason":"unsupported"/g), null, 'no validation answered unsupported');
  } finally {
    await server.stop();
  }
});

test.run();
