// A task that waits on a slow or failing model says so on its dashboard card (issue 14, item 4): the
// real server calls "Anthropic" through the official SDK against the fake upstream, whose first answer
// to the enhancer is 529 (overloaded) and whose retry takes 20 s; the card shows what it waits on, for
// how long (counting), and the failed attempt, and GET /api/tasks/:id carries the same in `waiting`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { buildUi } from '../../ui/build.ts';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.ts';
import { ROOT, api, startServer, tempDir, waitFor, type StartedServer } from '../helpers/server.ts';
import { launch, watchErrors } from './browser.ts';

const fizzbuzz = JSON.parse(readFileSync(join(ROOT, 'runtime/llm/transcripts/fizzbuzz.json'), 'utf8'));
const WAIT = { timeout: 20_000 };
let fake: FakeUpstream;
let server: StartedServer;
let browser: Browser;
let page: Page;
let errors: string[];

test.before(async () => {
  await buildUi();
  fake = await startFakeUpstream();
  const dir = tempDir('orch-waiting-');
  writeFileSync(join(dir, 'orchestrator.config.json'), JSON.stringify({ retry: { baseDelayMs: 5, maxDelayMs: 20 } }));
  writeFileSync(join(dir, 'model-routing.json'), JSON.stringify({ routes: { enhancer: ['anthropic/enhancer-model'] } }));
  server = await startServer({
    dataDir: join(dir, 'data'),
    env: {
      ANTHROPIC_API_KEY: 'sk-ant-waiting-test-key',
      ANTHROPIC_BASE_URL: fake.url,
      ORCHESTRATOR_CONFIG: join(dir, 'orchestrator.config.json'),
      ORCHESTRATOR_ROUTING: join(dir, 'model-routing.json'),
    },
  });
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  errors = watchErrors(page);
  await page.goto(server.url);
  await page.locator('connection-status[state="connected"]').waitFor(WAIT);
});

test.after(async () => {
  await browser?.close();
  await server?.stop();
  await fake?.close();
});

test('a card says what its task waits on, for how long, and the model call attempt that failed', async () => {
  fake.script(
    { match: { model: 'enhancer-model' }, times: 1, respond: { status: 529 } },
    { match: { model: 'enhancer-model' }, times: 1, respond: { delayMs: 20_000, text: fizzbuzz.turns.enhancer[0] } },
  );
  const id = (await api(server, '/api/requirements', { body: { requirement: `${fizzbuzz.requirement} (waiting)` } })).body.taskId as string;
  await waitFor('the retried enhancer call to reach the upstream', async () => fake.requests.filter((r) => (r.body as { model?: string }).model === 'enhancer-model').length === 2);

  const detail = await waitFor('the task view to carry the failed attempt', async () => {
    const body = (await api(server, `/api/tasks/${id}`)).body;
    return body.waiting?.lastAttempt ? body : null;
  });
  assert.equal([detail.waiting.role, detail.waiting.lastAttempt.deployment, detail.waiting.lastAttempt.attempt], ['enhancer', 'anthropic/enhancer-model', 1]);
  assert.type(detail.waiting.since, 'number');

  const card = page.locator(`pipeline-view li.task[data-task="${id}"] .waiting`);
  await card.locator('.retry').waitFor(WAIT);
  assert.match(await card.innerText(), /^waiting on the enhancer · \d+ s · attempt 1 on anthropic\/enhancer-model failed \(\w+\) \d+ s ago$/);
  const before = await card.locator('.for').innerText();
  await waitFor('the waiting time to count up', async () => (await card.locator('.for').innerText()) !== before, 5000);

  assert.is((await api(server, `/api/tasks/${id}/cancel`, { method: 'POST' })).status, 200);
  await card.waitFor({ state: 'detached', ...WAIT });
  assert.equal(errors, []);
});

test.run();
