// Memory bombs through the real server: a task whose generated code blows up its memory fails with
// reason 'memory' while /api/health keeps answering, and the next task still validates.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { api, finished, startServer, tempDir } from '../helpers/server.ts';

const bombs: Record<string, string> = {
  'a growing array of arrays': 'export function hoard() { const keep = []; for (;;) keep.push(new Array(100000).fill(1)); }',
  'Array(1e9).fill(0)': 'export function hoard() { return Array(1e9).fill(0); }',
};

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
      assert.ok(Date.now() - started < 2000, 'health answered within 2 s');
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

test.run();
