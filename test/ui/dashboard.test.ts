// The served dashboard in a real browser (Debian chromium + playwright-core) against the real server
// in demo mode: submit through the form and watch — without reloading — the agent cards go working and
// back with their counts up, the pipeline pass every stage, the console show the agents' lines while
// the task runs, and the task's files and per-test results appear; cancel and retry from the detail.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { buildUi } from '../../ui/build.ts';
import { api, finished, startServer, waitFor, type StartedServer } from '../helpers/server.ts';
import { launch, shot, watchErrors } from './browser.ts';
import { installRecorder, type Seen } from './recorder.ts';

let server: StartedServer;
let browser: Browser;
let page: Page;
let errors: string[];
const WAIT = { timeout: 20_000 };
const DEMO_DELAY_MS = '400';

test.before(async () => {
  const report = await buildUi();
  console.log(`  bundle ${report.file}: ${report.bytes} bytes, ${report.gzipBytes} gzip`);
  // The demo's own pace (400 ms per model answer, its default): a stage that waits on a model stays on
  // screen that long, so only a page that paints less than about twice a second (a frozen one, not a
  // slow one on a busy machine) could skip it. How fast the page paints is bench/dashboard.ts's figure.
  server = await startServer({ env: { ORCHESTRATOR_DEMO_DELAY_MS: DEMO_DELAY_MS } });
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  errors = watchErrors(page);
});

test.after(async () => {
  await browser?.close();
  await server?.stop();
  if (server) rmSync(server.dataDir, { recursive: true, force: true });
});

const seen = (): Promise<Seen> => page.evaluate(() => (window as unknown as { __seen: Seen }).__seen);

test('the served page loads the components: connected, demo badge, one card per agent', async () => {
  const response = await page.goto(server.url);
  assert.match(response!.headers()['content-security-policy'], /script-src 'self'/);
  await page.locator('connection-status[state="connected"]').waitFor(WAIT);
  assert.is(await page.locator('connection-status .label').innerText(), 'connected');
  assert.ok(await page.locator('demo-badge[active]').isVisible(), 'demo badge shown in demo mode');
  assert.match(await page.locator('demo-badge .badge').innerText(), /DEMO MODE/);
  const { body } = await api(server, '/api/agents');
  const names: string[] = body.agents.map((a: { name: string }) => a.name).sort();
  await waitFor('one card per agent', async () => (await page.locator('agent-card').count()) === names.length);
  const shown = await page.locator('agent-card').evaluateAll((cards) => cards.map((c) => c.getAttribute('name')).sort());
  assert.equal(shown, names);
  for (const name of names) assert.is(await page.locator(`agent-card[name="${name}"]`).getAttribute('status'), 'ready');
  // Each card is a pool: its size comes from the server (--workers by default), and none is busy yet.
  for (const agent of body.agents as Array<{ name: string; concurrency: number }>) {
    assert.is((await page.locator(`agent-card[name="${agent.name}"] .pool`).innerText()).trim(), `0/${agent.concurrency} busy`);
  }
  // Marks this document: if anything reloads the page, the mark is gone.
  await page.evaluate(() => ((window as unknown as { __mark: number }).__mark = 42));
  await page.evaluate(installRecorder);
});

test('the form validates before it sends', async () => {
  const before = (await api(server, '/api/tasks')).body.tasks.length;
  await page.locator('submit-form button[type="submit"]').click();
  const problem = page.locator('submit-form #problem');
  await problem.waitFor({ state: 'visible', ...WAIT });
  assert.match(await problem.innerText(), /Write a requirement/);
  assert.is(await page.locator('submit-form textarea').getAttribute('aria-invalid'), 'true');
  await page.locator('submit-form input[name="priority"]').fill('11');
  await page.locator('submit-form textarea').fill('Write a fizzbuzz module with tests');
  await page.locator('submit-form button[type="submit"]').click();
  assert.match(await problem.innerText(), /Priority must be a whole number from 1 to 10/);
  // The field the problem is about is the one marked (and focused), not the requirement.
  assert.is(await page.locator('submit-form input[name="priority"]').getAttribute('aria-invalid'), 'true');
  assert.is(await page.locator('submit-form textarea').getAttribute('aria-invalid'), 'false');
  assert.ok(await page.locator('submit-form input[name="priority"]').evaluate((el) => el === (el.getRootNode() as ShadowRoot).activeElement), 'the priority field has the focus');
  assert.is((await api(server, '/api/tasks')).body.tasks.length, before, 'nothing was submitted');
  await page.locator('submit-form input[name="priority"]').fill('7');
  // The server's refusal of a requirement demo mode cannot answer (422, fields.requirement) marks the
  // requirement. On a page of its own: the browser logs the 422, which the main page must never see.
  const other = await browser.newPage();
  await other.goto(server.url);
  await other.locator('connection-status[state="connected"]').waitFor(WAIT);
  await other.locator('submit-form textarea').fill('Write an operating system kernel');
  await other.locator('submit-form button[type="submit"]').click();
  await other.locator('submit-form #problem', { hasText: 'demo mode answers only its sample requirements' }).waitFor(WAIT);
  assert.is(await other.locator('submit-form textarea').getAttribute('aria-invalid'), 'true');
  assert.is(await other.locator('submit-form input[name="priority"]').getAttribute('aria-invalid'), 'false');
  assert.is((await api(server, '/api/tasks')).body.tasks.length, before, 'nothing was submitted');
  await other.close();
});

let taskId = '';

test('a demo requirement submitted through the form runs live to its files and test results', async () => {
  const before = await seen();
  const doneBefore = Object.fromEntries(Object.entries(before.agents).map(([n, a]) => [n, a.done[a.done.length - 1]]));
  // The sample button fills the field (the demo transcripts answer this requirement).
  await page.locator('submit-form .samples button', { hasText: 'FizzBuzz module' }).click();
  assert.is(await page.locator('submit-form textarea').inputValue(), 'Write a fizzbuzz module with tests');
  await page.locator('submit-form button[type="submit"]').click();
  const status = page.locator('submit-form [role="status"]');
  await waitFor('the form to say which task it submitted', async () => /Submitted t-/.test(await status.innerText()));
  taskId = /Submitted (t-[^.\s]+)/.exec(await status.innerText())![1];
  assert.is((await api(server, `/api/tasks/${taskId}`)).body.priority, 7);

  // The detail of the new task is chosen and follows it to completion.
  await page.locator(`task-detail[task-id="${taskId}"] article[data-status="completed"]`).waitFor({ timeout: 30_000 });
  const detail = await finished(server, taskId);
  assert.is(detail.status, 'completed');

  // Pipeline: every stage of this run, in order, as the page showed it.
  const s = await seen();
  // The persisted history (GET /api/tasks/:id) is the truth the page must match.
  const expected: string[] = detail.stages.map((x: { stage: string }) => x.stage).filter((x: string) => x !== 'queued');
  for (const stage of ['enhancing', 'analyzing', 'implementing', 'validating', 'integrating', 'completed']) assert.ok(expected.includes(stage), `server history lacks ${stage}`);
  const shownStages = s.stages[taskId].filter((x) => x !== 'queued');
  // Frames are rendered at most once per animation frame, so a stage shorter than a frame (integrating
  // writes files in a few ms, and a warm sandbox validates in about one) may not get a frame of its own:
  // the frames must be the expected stages in order, with every stage that waits on an agent's model
  // answer among them; the trail lists them all.
  const order = shownStages.map((x) => expected.indexOf(x));
  assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1])), `pipeline frames showed ${shownStages.join(' → ')}`);
  for (const stage of ['enhancing', 'analyzing', 'implementing', 'completed']) assert.ok(shownStages.includes(stage), `no frame showed ${stage}: ${shownStages.join(' → ')}`);
  const trail = await page.locator(`pipeline-view li.task[data-task="${taskId}"] .trail`).innerText();
  assert.is(trail, ['queued', ...expected].map((x) => (x === 'implementing' ? 'implementing #1' : x)).join(' → '));
  assert.is(await page.locator(`pipeline-view li.task[data-task="${taskId}"] li[aria-current="step"]`).innerText(), 'completed');

  // Agent cards: each agent that served a stage went working and back to ready with its count up.
  const served = ['enhancer', 'analyst', 'implementer', 'validator', 'integrator'];
  // Agents that wait on a model answer are working for many frames; the integrator (a file write) may
  // finish inside one frame, so for it the count and the final status are what a person can see.
  const waitsOnModel = new Set(['enhancer', 'analyst', 'implementer']);
  for (const name of served) {
    const a = s.agents[name];
    if (waitsOnModel.has(name)) assert.ok(a.statuses.includes('working'), `${name} card never showed working: ${a.statuses.join(',')}`);
    assert.is(a.statuses[a.statuses.length - 1], 'ready', `${name} card ends ready`);
    const doneNow = Number(await page.locator(`agent-card[name="${name}"]`).getAttribute('done'));
    assert.ok(doneNow > doneBefore[name], `${name} done count went from ${doneBefore[name]} to ${doneNow}`);
    assert.is((await page.locator(`agent-card[name="${name}"] .count-done`).innerText()).trim(), String(doneNow));
  }

  // Console: the agents' lines arrived while the task was still running.
  const live = s.consoleWhileRunning[taskId] ?? [];
  for (const name of ['enhancer', 'analyst', 'implementer']) assert.ok(live.includes(name), `console showed no ${name} line while ${taskId} ran (saw ${live.join(',')})`);
  const lines = page.locator(`agent-console .line[data-task="${taskId}"]`);
  assert.ok((await lines.count()) >= 10, 'console lines for the task');

  // Output: the generated files (highlighted) and each test's result, as the server reports them.
  const paths: string[] = detail.generated.map((f: { path: string }) => f.path);
  assert.ok(paths.length >= 2, 'the demo task generates a module and its tests');
  const shownPaths = await page.locator('task-detail details[data-path]').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
  assert.equal(shownPaths, paths);
  assert.ok((await page.locator('task-detail details[data-path] .tok-keyword').count()) > 0, 'code is highlighted');
  const testNames: string[] = detail.report.tests.map((t: { name: string }) => t.name);
  assert.ok(testNames.length > 0);
  const rows = page.locator('task-detail ul.tests li');
  assert.is(await rows.count(), testNames.length);
  assert.equal(await rows.locator('.name').allInnerTexts(), testNames);
  assert.is(await page.locator('task-detail ul.tests li[data-ok="true"]').count(), testNames.length);
  assert.match(await page.locator('task-detail .report .summary').innerText(), new RegExp(`passed — ${testNames.length} of ${testNames.length} tests? passed`));
  assert.is(await page.locator(`task-list tr[data-task="${taskId}"]`).getAttribute('aria-selected'), 'true');

  // Never reloaded.
  assert.is(await page.evaluate(() => (window as unknown as { __mark: number }).__mark), 42);

  await shot(page, 'dashboard');
  await shot(page.locator('orchestrator-dashboard section.panel:has(agent-card)'), 'agents');
  await shot(page.locator('pipeline-view'), 'pipeline');
  await shot(page.locator('task-detail'), 'task-detail');
  await shot(page.locator('agent-console'), 'console');
});

test('the inspector shows the task machine with the current state highlighted and steps back through its history', async () => {
  await page.locator(`task-detail[task-id="${taskId}"] button.inspect`).click();
  const inspector = page.locator(`actor-inspector[actor="task:${taskId}"]`);
  await inspector.locator('svg g.node[data-state="completed"][data-active="true"]').waitFor(WAIT);
  // The graph is the pipeline machine's own definition, laid out: every state, one highlighted.
  const states = await inspector.locator('svg g.node').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
  for (const state of ['queued', 'enhancing', 'analyzing', 'reasoning', 'implementing', 'validating', 'reviewing', 'integrating', 'completed', 'failed', 'cancelled']) assert.ok(states.includes(state), `graph lacks ${state}: ${states.join(',')}`);
  assert.ok((await inspector.locator('svg g.edge').count()) >= 10, 'transitions drawn');
  assert.equal(await inspector.locator('svg g.node[data-active="true"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-state'))), ['completed']);
  assert.is(await inspector.getAttribute('shown-state'), 'completed');
  // The actor picker follows the supervision tree: the root, each agent pool with its instances, the
  // running tasks, then the other tasks (this one has completed).
  const groups = await inspector.locator('select.actor optgroup').evaluateAll((els) => els.map((e) => e.getAttribute('label')));
  assert.is(groups[0], 'root supervisor', JSON.stringify(groups));
  assert.ok(groups.some((g) => /^agents › implementer \(\d+\/\d+ busy\)$/.test(g ?? '')), JSON.stringify(groups));
  assert.ok(groups.some((g) => /^tasks › running \(\d+ of at most \d+\)$/.test(g ?? '')) || groups.includes('other tasks (queued or finished)'), JSON.stringify(groups));
  assert.equal(await inspector.locator(`select.actor optgroup[label="other tasks (queued or finished)"] option[value="task:${taskId}"]`).count(), 1);
  assert.equal(await inspector.locator('select.actor optgroup[label^="agents › implementer"] option').evaluateAll((els) => els.map((e) => (e as HTMLOptionElement).value)), ['agent:implementer', 'agent:implementer#2']);

  // The event log is the task's persisted history (the store's events), with payloads.
  const { body } = await api(server, `/api/inspect/task:${encodeURIComponent(taskId)}`);
  const history = body.history as Array<{ seq: number; type: string; data: { to?: string } }>;
  assert.is(body.state.value, 'completed');
  assert.is(await inspector.locator('ol.log li').count(), history.length);
  assert.equal(await inspector.locator('ol.log li').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq')))), history.map((e) => e.seq));
  assert.match(await inspector.locator('ol.log li[data-type="task.submitted"] .payload').innerText(), /fizzbuzz/);
  assert.match(await inspector.locator('pre.context').innerText(), new RegExp(`"taskId": "${taskId}"`));

  // Time travel: step back one entry at a time; the highlighted state walks the persisted stages backwards.
  const persisted = ['queued', ...history.filter((e) => e.type === 'task.stage').map((e) => e.data.to!)];
  const walked = ['completed'];
  const back = inspector.locator('button.back');
  for (let i = history.length - 1; i > 0; i--) {
    await back.click();
    const shown = await inspector.getAttribute('shown-state');
    const active = await inspector.locator('svg g.node[data-active="true"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
    assert.equal(active, [shown], `step ${i}: one highlighted node, the shown state`);
    assert.is(await inspector.locator('ol.log li[aria-current="step"]').getAttribute('data-seq'), String(history[i - 1].seq));
    if (shown !== walked[walked.length - 1]) walked.push(shown!);
  }
  assert.ok(await back.isDisabled(), 'at the first entry');
  assert.equal(walked, [...persisted].reverse(), `stepped back through ${walked.join(' ← ')}`);
  assert.ok(walked.indexOf('integrating') < walked.indexOf('validating'), 'integrating, then validating, going back');
  // The screenshot at a past step: validating highlighted, its entry current in the log.
  const validatingAt = history.findIndex((e) => e.type === 'task.stage' && e.data.to === 'validating');
  await inspector.locator('input[type="range"]').fill(String(validatingAt));
  assert.is(await inspector.getAttribute('shown-state'), 'validating');
  await shot(inspector, 'inspector');
  // Keyboard: End on the range returns to the live state; ArrowLeft steps back again.
  await inspector.locator('input[type="range"]').focus();
  await page.keyboard.press('End');
  assert.is(await inspector.getAttribute('shown-state'), 'completed');
  await page.keyboard.press('ArrowLeft');
  assert.is(await inspector.getAttribute('shown-state'), persisted[persisted.length - 2]);
  await page.keyboard.press('End');

  // Any actor: the supervisor and an agent from the picker.
  await inspector.locator('select.actor').selectOption('agent:implementer');
  await page.locator('actor-inspector svg g.node[data-state="ready"][data-active="true"]').waitFor(WAIT);
  assert.ok(await page.locator('actor-inspector svg g.node[data-state="working"]').count());
  await page.locator('actor-inspector select.actor').selectOption('supervisor');
  await page.locator('actor-inspector svg g.node[data-state="running"][data-active="true"]').waitFor(WAIT);
  assert.match(await page.locator('actor-inspector pre.context').innerText(), /"implementer"/);
  assert.is(await page.evaluate(() => (window as unknown as { __mark: number }).__mark), 42, 'no reload');
});

test('console filters by agent, level and task', async () => {
  const consoleEl = page.locator('agent-console');
  await consoleEl.locator('select.agent').selectOption('implementer');
  const sources = await consoleEl.locator('.line').evaluateAll((els) => [...new Set(els.map((e) => e.getAttribute('data-source')))]);
  assert.equal(sources, ['implementer']);
  await consoleEl.locator('select.agent').selectOption('');
  await consoleEl.locator('select.level').selectOption('error');
  assert.is(await consoleEl.locator('.line:not(.error):not(.token)').count(), 0, 'only error lines (and tokens) at level error+');
  await consoleEl.locator('select.level').selectOption('debug');
  await consoleEl.locator('select.task').selectOption(taskId);
  const tasks = await consoleEl.locator('.line').evaluateAll((els) => [...new Set(els.map((e) => e.getAttribute('data-task')))]);
  assert.equal(tasks, [taskId]);
  await consoleEl.locator('select.task').selectOption('');
});

test('cancel and retry from the task detail, and keyboard selection in the task list', async () => {
  await page.locator('submit-form textarea').fill('Build a small CSV parser with tests');
  await page.locator('submit-form button[type="submit"]').click();
  await waitFor('a second task', async () => {
    const id = /Submitted (t-[^.\s]+)/.exec(await page.locator('submit-form [role="status"]').innerText())?.[1];
    return id && id !== taskId ? id : null;
  });
  const second = /Submitted (t-[^.\s]+)/.exec(await page.locator('submit-form [role="status"]').innerText())![1];
  const cancel = page.locator(`task-detail[task-id="${second}"] button.cancel`);
  await cancel.waitFor(WAIT);
  await waitFor('cancel to be enabled', () => cancel.isEnabled());
  await cancel.click();
  await page.locator(`task-detail[task-id="${second}"] article[data-status="cancelled"]`).waitFor(WAIT);
  assert.is((await api(server, `/api/tasks/${second}`)).body.status, 'cancelled');
  assert.is(await page.locator(`pipeline-view li.task[data-task="${second}"]`).getAttribute('data-status'), 'cancelled');
  const retry = page.locator(`task-detail[task-id="${second}"] button.retry`);
  assert.ok(await retry.isEnabled());
  assert.ok(!(await cancel.isEnabled()));
  await retry.click();
  await page.locator(`task-detail[task-id="${second}"] article[data-status="completed"]`).waitFor({ timeout: 30_000 });
  assert.is((await api(server, `/api/tasks/${second}`)).body.attempt, 2);

  // Keyboard: focus the first task's row and choose it with Enter.
  await page.locator(`task-list tr[data-task="${taskId}"]`).focus();
  await page.keyboard.press('Enter');
  await page.locator(`task-detail[task-id="${taskId}"]`).waitFor(WAIT);
  assert.is(await page.locator(`task-list tr[data-task="${taskId}"]`).getAttribute('aria-selected'), 'true');
  assert.equal(errors, []);
});

test('reconnect: the server is killed mid-task and restarted; the page says reconnecting, then resyncs to the true state', async () => {
  const { body } = await api(server, '/api/requirements', { body: { requirement: 'Build a small CSV parser with tests', priority: 5 } });
  const id: string = body.taskId;
  await page.locator(`pipeline-view li.task[data-task="${id}"][data-status="running"]`).waitFor(WAIT);
  const { port, dataDir } = server;
  await server.kill();
  await page.locator('connection-status[state="reconnecting"]').waitFor(WAIT);
  assert.match(await page.locator('connection-status .label').innerText(), /reconnecting/);
  await shot(page.locator('orchestrator-dashboard').locator('header').first(), 'reconnecting');
  // Same data dir and port: the task resumes from its last snapshot in the new process.
  server = await startServer({ dataDir, args: ['--port', String(port)], env: { ORCHESTRATOR_DEMO_DELAY_MS: DEMO_DELAY_MS } });
  assert.is(server.port, port);
  await page.locator('connection-status[state="connected"]').waitFor({ timeout: 30_000 });
  await finished(server, id);
  // The page now shows what the server says: every task's status and every agent's counts (the new
  // process's counters, not the old page's), without a reload.
  await waitFor('the page to agree with the server', async () => {
    const tasks = (await api(server, '/api/tasks')).body.tasks as Array<{ id: string; status: string }>;
    const agents = (await api(server, '/api/agents')).body.agents as Array<{ name: string; done: number }>;
    for (const t of tasks) if ((await page.locator(`task-list tr[data-task="${t.id}"]`).getAttribute('data-status')) !== t.status) return false;
    for (const a of agents) if (Number(await page.locator(`agent-card[name="${a.name}"]`).getAttribute('done')) !== a.done) return false;
    return true;
  });
  assert.is(await page.locator(`pipeline-view li.task[data-task="${id}"]`).getAttribute('data-stage'), 'completed');
  assert.is(await page.evaluate(() => (window as unknown as { __mark: number }).__mark), 42, 'no reload');
  assert.equal(errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED/.test(e)), []);
});

test.run();
