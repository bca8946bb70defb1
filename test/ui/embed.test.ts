// The library build embedded in a static page served from another origin (a plain static file server,
// not the Orchestrator): the components take `server="http://…"` and the same checks hold — submit
// through the form, the agent cards count up, the pipeline reaches completed, the console shows the
// agents' lines, the files and test results appear. The server allows that one origin through
// ORCHESTRATOR_UI_ORIGINS; a page from an origin it does not list cannot call the API.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { buildUi, DIST } from '../../ui/build.ts';
import { api, finished, startServer, type StartedServer } from '../helpers/server.ts';
import { launch, shot, watchErrors } from './browser.ts';

let server: StartedServer;
let statics: Server;
let staticUrl = '';
let browser: Browser;
let page: Page;
const WAIT = { timeout: 20_000 };

function page_(serverUrl: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Embedded</title><link rel="icon" href="data:,">
<style>body { font-family: sans-serif; background: #fff; } agent-card { --orch-card: #f4f4f4; --orch-fg: #111; }</style></head>
<body><h1>Someone else's page</h1>
<connection-status server="${serverUrl}"></connection-status>
<submit-form server="${serverUrl}"></submit-form>
<div id="cards"></div>
<pipeline-view server="${serverUrl}"></pipeline-view>
<task-detail server="${serverUrl}"></task-detail>
<agent-console server="${serverUrl}"></agent-console>
<actor-inspector server="${serverUrl}"></actor-inspector>
<script type="module">
  import { getClient } from './orchestrator-ui.js';
  const server = ${JSON.stringify(serverUrl)};
  // Used alone: one card per agent the client knows, and the detail follows the submitted task.
  getClient(server).$agents.subscribe((agents) => {
    const cards = document.getElementById('cards');
    for (const name of Object.keys(agents)) if (!cards.querySelector('[name="' + name + '"]')) {
      const card = document.createElement('agent-card'); card.setAttribute('server', server); card.setAttribute('name', name); cards.append(card);
    }
  });
  document.addEventListener('task-submitted', (e) => document.querySelector('task-detail').setAttribute('task-id', e.detail.taskId));
  document.addEventListener('inspect-actor', (e) => document.querySelector('actor-inspector').setAttribute('actor', e.detail.actor));
</script></body></html>`;
}

test.before(async () => {
  await buildUi();
  statics = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/') return void res.writeHead(200, { 'content-type': 'text/html' }).end(page_(process.env.EMBED_SERVER ?? ''));
    if (path === '/offline') return void res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Offline</title><link rel="icon" href="data:,"></head><body><submit-form server="http://127.0.0.1:9"></submit-form><script type="module" src="${process.env.EMBED_SERVER}/ui/orchestrator-ui.js"></script></body></html>`);
    if (path === '/readme') return void res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>README snippet</title><link rel="icon" href="data:,"></head><body>\n${readmeSnippet(process.env.EMBED_SERVER ?? '')}</body></html>`);
    if (path === '/orchestrator-ui.js') return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(join(DIST, 'orchestrator-ui.js')));
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => statics.listen(0, '127.0.0.1', resolve));
  staticUrl = `http://127.0.0.1:${(statics.address() as { port: number }).port}`;
  server = await startServer({ env: { ORCHESTRATOR_DEMO_DELAY_MS: '120', ORCHESTRATOR_UI_ORIGINS: staticUrl } });
  process.env.EMBED_SERVER = server.url;
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
});

test.after(async () => {
  await browser?.close();
  await server?.stop();
  await new Promise((resolve) => statics?.close(resolve));
  if (server) rmSync(server.dataDir, { recursive: true, force: true });
});

/** The README's embedding snippet, verbatim but for the server's address (the README names port 8100). */
function readmeSnippet(serverUrl: string): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const block = /Each part is a custom element[^\n]*\n\n```html\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, "README's embedding snippet (the html block after 'Each part is a custom element')");
  assert.ok(block!.includes('http://127.0.0.1:8100/ui/orchestrator-ui.js'), 'the snippet loads the library from the server');
  return block!.replaceAll('http://127.0.0.1:8100', serverUrl);
}

test('the library is served to any origin (public code); the API still answers only listed origins', async () => {
  const script = await fetch(`${server.url}/ui/orchestrator-ui.js`, { headers: { origin: 'http://some-wiki.example' } });
  assert.is(script.status, 200);
  assert.is(script.headers.get('access-control-allow-origin'), '*');
  const data = await fetch(`${server.url}/api/agents`, { headers: { origin: 'http://some-wiki.example' } });
  assert.is(data.headers.get('access-control-allow-origin'), null);
});

test('the API answers CORS only for the listed origin', async () => {
  const allowed = await fetch(`${server.url}/api/agents`, { headers: { origin: staticUrl } });
  assert.is(allowed.headers.get('access-control-allow-origin'), staticUrl);
  const other = await fetch(`${server.url}/api/agents`, { headers: { origin: 'http://evil.example' } });
  assert.is(other.headers.get('access-control-allow-origin'), null);
  const preflight = await fetch(`${server.url}/api/requirements`, { method: 'OPTIONS', headers: { origin: staticUrl, 'access-control-request-method': 'POST' } });
  assert.is(preflight.status, 204);
});

test('components embedded in a static page on another origin work against the server', async () => {
  const errors = watchErrors(page);
  await page.goto(staticUrl);
  await page.locator('connection-status[state="connected"]').waitFor(WAIT);
  const agents = (await api(server, '/api/agents')).body.agents as Array<{ name: string }>;
  await page.locator(`agent-card[name="${agents[agents.length - 1].name}"]`).waitFor(WAIT);
  assert.is(await page.locator('agent-card').count(), agents.length);
  assert.is(await page.locator('agent-card[name="implementer"]').getAttribute('done'), '0');

  await page.locator('submit-form textarea').fill('Write a fizzbuzz module with tests');
  await page.locator('submit-form button[type="submit"]').click();
  await page.locator('task-detail article[data-status="completed"]').waitFor({ timeout: 30_000 });
  const id = await page.locator('task-detail').getAttribute('task-id');
  const detail = await finished(server, id!);
  assert.is(detail.status, 'completed');
  assert.is(await page.locator(`pipeline-view li.task[data-task="${id}"]`).getAttribute('data-stage'), 'completed');
  assert.is(await page.locator('agent-card[name="implementer"]').getAttribute('done'), '1');
  assert.equal(
    await page.locator('task-detail details[data-path]').evaluateAll((els) => els.map((e) => e.getAttribute('data-path'))),
    detail.generated.map((f: { path: string }) => f.path),
  );
  assert.is(await page.locator('task-detail ul.tests li[data-ok="true"]').count(), detail.report.tests.length);
  const sources = await page.locator(`agent-console .line[data-task="${id}"]`).evaluateAll((els) => els.map((e) => e.getAttribute('data-source')));
  for (const name of ['enhancer', 'analyst', 'implementer', 'validator', 'integrator']) assert.ok(sources.includes(name), `console has ${name}`);

  // The inspector on the same page (its own /ws/inspect socket to the other origin), without a reload.
  await page.evaluate(() => ((window as unknown as { __mark: number }).__mark = 7));
  await page.locator('task-detail button.inspect').click();
  const inspector = page.locator(`actor-inspector[actor="task:${id}"]`);
  await inspector.locator('svg g.node[data-state="completed"][data-active="true"]').waitFor(WAIT);
  const history = (await api(server, `/api/inspect/task:${encodeURIComponent(id!)}`)).body.history as Array<{ type: string; data: { to?: string } }>;
  const persisted = ['queued', ...history.filter((e) => e.type === 'task.stage').map((e) => e.data.to!)];
  assert.is(await inspector.locator('ol.log li').count(), history.length);
  const walked = ['completed'];
  for (let i = history.length - 1; i > 0; i--) {
    await inspector.locator('button.back').click();
    const shown = (await inspector.getAttribute('shown-state'))!;
    assert.equal(await inspector.locator('svg g.node[data-active="true"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-state'))), [shown]);
    if (shown !== walked[walked.length - 1]) walked.push(shown);
  }
  assert.equal(walked, [...persisted].reverse());
  assert.is(await page.evaluate(() => (window as unknown as { __mark: number }).__mark), 7, 'no reload');
  await inspector.locator('button.live').click();
  await shot(page, 'embedded');
  assert.equal(errors, []);
});

test('a page on an origin the server does not list cannot call the API', async () => {
  const other = await browser.newPage();
  // The same static page under another origin: localhost is not 127.0.0.1 to the browser.
  await other.goto(staticUrl.replace('127.0.0.1', 'localhost'));
  const result = await other.evaluate((url) => fetch(url + '/api/agents').then(() => 'allowed', () => 'blocked'), server.url);
  assert.is(result, 'blocked');
  await other.close();
});

test("the README's embedding snippet, on a page of another origin, loads the library from the server and shows live data", async () => {
  const snippet = readmeSnippet(server.url);
  const embedPage = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors = watchErrors(embedPage);
  await embedPage.goto(`${staticUrl}/readme`);
  // The page's own origin is not the server's: the module script is a cross-origin load.
  assert.not.equal(new URL(staticUrl).origin, new URL(server.url).origin);
  assert.ok(snippet.length > 0);
  const dashboard = embedPage.locator('orchestrator-dashboard');
  await dashboard.locator('connection-status[state="connected"]').waitFor(WAIT);
  const agents = (await api(server, '/api/agents')).body.agents as Array<{ name: string }>;
  await dashboard.locator(`agent-card[name="${agents[0].name}"]`).waitFor(WAIT);
  const submitted = await api(server, '/api/requirements', { body: { requirement: 'Write a fizzbuzz module with tests', priority: 5 } });
  await dashboard.locator(`pipeline-view li.task[data-task="${submitted.body.taskId}"]`).waitFor(WAIT);
  await finished(server, submitted.body.taskId);
  await dashboard.locator(`pipeline-view li.task[data-task="${submitted.body.taskId}"][data-stage="completed"]`).waitFor(WAIT);
  assert.equal(errors, [], 'no CORS or script error in the console');
  await embedPage.close();
});

test('a form whose server is not reachable offers no Submit and says why', async () => {
  const offline = await browser.newPage();
  await offline.goto(`${staticUrl}/offline`);
  const button = offline.locator('submit-form button[type="submit"]');
  await offline.locator('submit-form #offline').waitFor(WAIT);
  assert.match(await offline.locator('submit-form #offline').innerText(), /Not connected to the server/);
  assert.ok(await button.isDisabled(), 'Submit is disabled while disconnected');
  await offline.close();
});

test.run();
