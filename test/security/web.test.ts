// Localhost web security, against the real server process: a web page in the user's browser must not
// be able to drive it. Proves (docs/RELIABILITY.md rows web.*):
// - DNS rebinding: every request whose Host is not this machine's name gets 403, on the API, the
//   dashboard, both WebSockets and the LLM proxy;
// - cross-site WebSocket hijacking: an upgrade without the launch token is refused whatever its
//   Origin (foreign, null, an IP-address origin, none); with the token it opens;
// - CSRF: cross-origin "simple" requests (text/plain, form, multipart, no type) change nothing: no
//   task, no cache clear, no upstream call; the same from a real Chromium page on another origin;
// - binding: a non-loopback address needs --remote, and then every request needs the token;
// - robustness: a 2,000-header upgrade, an oversized ws message and an oversized body leave the
//   server serving.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request as httpRequest, createServer } from 'node:http';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import WebSocket from 'ws';
import { api, startServer, ROOT, launchToken, type StartedServer } from '../helpers/server.ts';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.ts';
import { expectFigure } from '../helpers/reliability.ts';
import { launch } from '../ui/browser.ts';

let server: StartedServer;
let fake: FakeUpstream;

test.before(async () => {
  fake = await startFakeUpstream();
  server = await startServer({ env: { ORCHESTRATOR_PROVIDER: 'demo', ANTHROPIC_API_KEY: 'sk-ant-web-test', ANTHROPIC_BASE_URL: fake.url } });
});

test.after(async () => {
  await server?.stop();
  await fake?.close();
  if (server) rmSync(server.dataDir, { recursive: true, force: true });
});

interface Raw {
  status: number;
  body: string;
}

/** One HTTP exchange with exactly these headers (fetch would not let a test set Host). */
function raw(port: number, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: init.method ?? 'GET', headers: { ...(init.body !== undefined ? { 'content-length': String(Buffer.byteLength(init.body)) } : {}), ...init.headers }, setHost: !init.headers?.host }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** A WebSocket handshake; resolves with 101 when it opens (then closes it) or the refusal's status. */
function upgrade(port: number, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      path,
      setHost: !headers.host,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve(101);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

async function state(): Promise<{ tasks: number; cacheEntries: number; upstream: number }> {
  const tasks = (await api(server, '/api/tasks')).body;
  const cache = (await api(server, '/api/cache/stats')).body;
  return { tasks: (tasks.tasks ?? tasks).length, cacheEntries: cache.entries ?? cache.memory?.entries ?? JSON.stringify(cache).length, upstream: fake.requests.length };
}

const FOREIGN_HOSTS = (port: number) => [
  'evil.example',
  `evil.example:${port}`,
  `127.0.0.1.nip.io:${port}`,
  `localhost.evil.example:${port}`,
  `192.168.1.20:${port}`,
  `10.0.0.1:${port}`,
  `[fe80::1]:${port}`,
  `attacker-rebind.example:${port}`,
  'LOCALHOST.evil.example',
  `0.0.0.0:${port}`,
];

test('DNS rebinding: a foreign Host gets 403 on the API, the dashboard, the proxy and both WebSockets', async () => {
  const port = server.port;
  const token = server.token!;
  assert.ok(token, 'the server wrote <dataDir>/token');
  const targets: Array<() => Promise<number>> = [];
  for (const host of FOREIGN_HOSTS(port)) {
    targets.push(
      async () => (await raw(port, '/api/health', { headers: { host } })).status,
      async () => (await raw(port, '/api/tasks', { headers: { host } })).status,
      async () => (await raw(port, '/', { headers: { host } })).status,
      async () => (await raw(port, '/api/session', { headers: { host } })).status,
      async () => (await raw(port, '/api/requirements', { method: 'POST', headers: { host, 'content-type': 'application/json' }, body: '{"requirement":"Write a fizzbuzz module with tests","priority":5}' })).status,
      async () => (await raw(port, '/v1/messages', { method: 'POST', headers: { host, 'content-type': 'application/json', 'x-api-key': 'sk-ant-x', 'anthropic-version': '2023-06-01' }, body: '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}' })).status,
      async () => (await raw(port, '/v1/chat/completions', { method: 'POST', headers: { host, 'content-type': 'application/json' }, body: '{"model":"gpt-5.5","messages":[{"role":"user","content":"hi"}]}' })).status,
      // Even with the token: a rebinding page could not have it, and the Host check comes first.
      () => upgrade(port, `/ws?token=${token}`, { host }),
      () => upgrade(port, `/ws/inspect?token=${token}`, { host }),
      () => upgrade(port, '/ws', { host }),
    );
  }
  const before = await state();
  const statuses = [];
  for (const target of targets) statuses.push(await target());
  const refused = statuses.filter((s) => s === 403).length;
  assert.is(refused, targets.length, `statuses: ${statuses.join(',')}`);
  assert.equal(await state(), before, 'nothing changed');
  // The names this machine answers to still work, with any port (a tunnel may change it).
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'localhost', 'LocalHost:1234']) {
    assert.is((await raw(port, '/api/health', { headers: { host } })).status, 200, host);
  }
  const refusal = JSON.parse((await raw(port, '/api/tasks', { headers: { host: 'evil.example' } })).body);
  assert.is(refusal.error.code, 'E_HOST');
  assert.match(refusal.error.message, /evil\.example.*--allow-host/);
  expectFigure('web.rebinding', `${targets.length}/${targets.length} requests with a foreign Host refused with 403 (API, dashboard, proxy, /ws, /ws/inspect)`);
});

test('cross-site WebSocket hijacking: no token, no socket, whatever the Origin', async () => {
  const port = server.port;
  const origins: Array<Record<string, string>> = [
    { origin: 'http://evil.example' },
    { origin: 'https://evil.example' },
    { origin: 'null' },
    { origin: 'http://192.168.1.20' },
    { origin: `http://127.0.0.1:${port + 1}` },
    { origin: `http://127.0.0.1:${port}` },
    { origin: `http://localhost:${port}` },
    { origin: 'file://' },
    {},
  ];
  const statuses: number[] = [];
  for (const headers of origins) {
    for (const path of ['/ws', '/ws/inspect', '/ws?token=', '/ws?token=wrong-token', '/ws/inspect?token=' + 'x'.repeat(43)]) statuses.push(await upgrade(port, path, headers));
  }
  assert.ok(statuses.every((s) => s === 403), `statuses: ${statuses.join(',')}`);
  // With the launch token the dashboard's own connection opens, from its origin and from none (CLI).
  assert.is(await upgrade(port, `/ws?token=${encodeURIComponent(server.token!)}`, { origin: `http://127.0.0.1:${port}` }), 101);
  assert.is(await upgrade(port, `/ws/inspect?token=${encodeURIComponent(server.token!)}`, {}), 101);
  assert.is(await upgrade(port, '/ws', { 'x-orchestrator-token': server.token! }), 101);
  expectFigure('web.cswsh', `${statuses.length}/${statuses.length} WebSocket upgrades without a valid token refused (foreign, null, IP-address and no Origin)`);
});

test('CSRF: cross-origin simple requests change nothing', async () => {
  const port = server.port;
  const { body: submitted } = await api(server, '/api/requirements', { body: { requirement: 'Write a fizzbuzz module with tests', priority: 5 } });
  const taskId = submitted.taskId as string;
  const before = await state();
  const json = '{"requirement":"Write a fizzbuzz module with tests","priority":5}';
  const anthropic = '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"csrf"}]}';
  const cases: Array<{ path: string; headers: Record<string, string>; body?: string }> = [];
  // Another site, an opaque origin, and another local port (a dev server on this machine is another site).
  for (const origin of ['http://evil.example', 'null', `http://localhost:${port + 1}`]) {
    cases.push(
      { path: '/api/requirements', headers: { origin, 'content-type': 'text/plain' }, body: json },
      { path: '/api/requirements', headers: { origin, 'content-type': 'application/x-www-form-urlencoded' }, body: `requirement=${encodeURIComponent('Write a fizzbuzz module')}&priority=5` },
      { path: '/api/requirements', headers: { origin, 'content-type': 'multipart/form-data; boundary=x' }, body: '--x\r\nContent-Disposition: form-data; name="requirement"\r\n\r\nfizzbuzz\r\n--x--\r\n' },
      { path: '/api/requirements', headers: { origin }, body: json },
      { path: '/api/requirements', headers: { origin, 'content-type': 'application/json' }, body: json },
      { path: '/api/cache/clear', headers: { origin } },
      { path: '/api/cache/clear', headers: { origin, 'content-type': 'text/plain' }, body: '{}' },
      { path: `/api/tasks/${taskId}/cancel`, headers: { origin } },
      { path: `/api/tasks/${taskId}/retry`, headers: { origin, 'content-type': 'text/plain' }, body: '{}' },
      { path: '/v1/messages', headers: { origin, 'content-type': 'text/plain' }, body: anthropic },
      { path: '/v1/messages?beta=true', headers: { origin, 'content-type': 'application/x-www-form-urlencoded' }, body: anthropic },
    );
  }
  // No Origin at all (an old browser, a form from a file:// page): the body type still must be JSON.
  cases.push({ path: '/api/requirements', headers: { 'content-type': 'text/plain' }, body: json }, { path: '/v1/chat/completions', headers: { 'content-type': 'text/plain' }, body: '{"model":"gpt-5.5","messages":[]}' });
  const statuses: number[] = [];
  for (const c of cases) statuses.push((await raw(port, c.path, { method: 'POST', headers: c.headers, body: c.body })).status);
  assert.ok(statuses.every((s) => s === 403 || s === 415), `statuses: ${statuses.join(',')}`);
  const after = await state();
  assert.equal(after, before, 'no task, no cache change, no upstream call');
  // The server's own dashboard origin, and a caller with the token, still can.
  assert.is((await raw(port, '/api/cache/clear', { method: 'POST', headers: { origin: `http://127.0.0.1:${port}` } })).status, 200);
  assert.is((await raw(port, '/api/cache/clear', { method: 'POST', headers: { origin: 'http://evil.example', 'x-orchestrator-token': server.token! } })).status, 200);
  expectFigure('web.csrf', `0 state changes from ${cases.length} cross-origin or non-JSON simple requests (tasks, cancel, retry, cache clear, proxy)`);
});

test('CSRF and hijacking from a real page on another origin in Chromium', async () => {
  // An "attacker" page served from another origin (another port is another origin).
  const evil: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>evil</title><form id=f method=post enctype=text/plain></form>');
  });
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', () => r()));
  const evilPort = (evil.address() as { port: number }).port;
  const browser = await launch();
  try {
    const before = await state();
    const page = await browser.newPage();
    await page.goto(`http://localhost:${evilPort}/`);
    const target = `http://127.0.0.1:${server.port}`;
    const outcome = await page.evaluate(async (base) => {
      const results: string[] = [];
      const body = JSON.stringify({ requirement: 'Write a fizzbuzz module with tests', priority: 5 });
      for (const path of ['/api/requirements', '/api/cache/clear', '/v1/messages']) {
        await fetch(base + path, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body }).then(() => results.push('sent'), () => results.push('blocked'));
      }
      // A JSON fetch needs a preflight the server never grants to this origin.
      await fetch(base + '/api/requirements', { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(() => results.push('json-ok'), () => results.push('json-blocked'));
      // Reading the token is what the attacker would need: the answer is opaque to this origin.
      await fetch(base + '/api/session').then((r) => r.text()).then((t) => results.push(`session:${t.length}`), () => results.push('session-blocked'));
      const ws = await new Promise<string>((resolve) => {
        const socket = new WebSocket(base.replace('http', 'ws') + '/ws');
        socket.onopen = () => resolve('ws-open');
        socket.onerror = () => resolve('ws-refused');
      });
      results.push(ws);
      return results;
    }, target);
    // The form post (a top-level navigation) too.
    await page.evaluate((action) => {
      const form = document.getElementById('f') as HTMLFormElement;
      form.action = action;
      const input = document.createElement('input');
      input.name = '{"requirement":"Write a fizzbuzz module with tests","priority":5,"x":"';
      input.value = '"}';
      form.append(input);
      form.submit();
    }, `${target}/api/requirements`);
    await page.waitForLoadState('load');
    assert.ok(outcome.includes('json-blocked'), outcome.join(','));
    assert.ok(outcome.includes('ws-refused'), outcome.join(','));
    assert.not.ok(outcome.some((o) => /^session:[1-9]/.test(o)), `the token was readable: ${outcome.join(',')}`);
    assert.equal(await state(), before, 'the page changed nothing');
  } finally {
    await browser.close();
    await new Promise((r) => evil.close(r));
  }
});

test('the dashboard served by the server carries the token and connects', async () => {
  const page = await raw(server.port, '/');
  assert.match(page.body, new RegExp(`<meta name="orchestrator-token" content="${server.token}">`));
  assert.is(statSync(join(server.dataDir, 'token')).mode & 0o777, 0o600, 'token file is private');
  const browser = await launch();
  try {
    const tab = await browser.newPage();
    await tab.goto(server.url);
    await tab.locator('connection-status[state="connected"]').waitFor({ timeout: 20_000 });
  } finally {
    await browser.close();
  }
});

test('binding beyond loopback needs --remote, and then every request needs the token', async () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['--no-node-snapshot', join(ROOT, 'runtime/cli/bin.js'), ...args], { encoding: 'utf8', cwd: ROOT, env: { ...process.env, ORCHESTRATOR_PROVIDER: 'demo' } });
  const refused = cli(['start', '--host', '0.0.0.0', '--port', '0', '--data-dir', join(server.dataDir, 'remote-refused')]);
  assert.is.not(refused.status, 0);
  assert.match(refused.stderr, /host is "0\.0\.0\.0".*--remote/s);
  const remote = await startServer({ args: ['--host', '0.0.0.0', '--remote'], env: { ORCHESTRATOR_PROVIDER: 'demo' } });
  try {
    const token = launchToken(remote.dataDir)!;
    const without = [
      await raw(remote.port, '/api/tasks'),
      await raw(remote.port, '/api/requirements', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"requirement":"Write a fizzbuzz module with tests","priority":5}' }),
      await raw(remote.port, '/api/session'),
      await raw(remote.port, '/v1/models'),
    ];
    assert.ok(without.every((r) => r.status === 401), without.map((r) => r.status).join(','));
    assert.is(await upgrade(remote.port, '/ws', { host: `127.0.0.1:${remote.port}` }), 401);
    // Any Host is accepted in remote mode (the token is what a rebinding page lacks).
    assert.is((await raw(remote.port, '/api/tasks', { headers: { host: 'orchestrator.lan:8100', 'x-orchestrator-token': token } })).status, 200);
    assert.is(await upgrade(remote.port, `/ws?token=${encodeURIComponent(token)}`, {}), 101);
    assert.is((await raw(remote.port, '/api/health')).status, 200, 'liveness stays open');
    const page = await raw(remote.port, '/');
    assert.is(page.status, 200);
    assert.not.match(page.body, /orchestrator-token" content/, 'the page carries no token in remote mode');
    const status = spawnSync(process.execPath, ['--no-node-snapshot', join(ROOT, 'runtime/cli/bin.js'), 'status', '--data-dir', remote.dataDir], { encoding: 'utf8', cwd: ROOT });
    assert.is(status.status, 0, `the CLI reads the token: ${status.stderr}`);
    expectFigure('web.binding', 'default 127.0.0.1; 0.0.0.0 refused without --remote; with it 4/4 API and proxy calls and the ws without the token get 401');
  } finally {
    await remote.stop();
    rmSync(remote.dataDir, { recursive: true, force: true });
  }
});

test('a 2,000-header upgrade, an oversized ws message and an oversized body leave the server serving', async () => {
  const port = server.port;
  // 2,000 headers: node's limits answer 431 or close; the process must not crash (ws CVE-2024-37890).
  const reply = await new Promise<string>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (d) => (text += d));
    socket.on('close', () => resolve(text));
    socket.on('error', () => resolve(text));
    const headers = Array.from({ length: 2000 }, (_, i) => `x-h${i}: ${i}`).join('\r\n');
    socket.write(`GET /ws?token=${server.token} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${headers}\r\n\r\n`);
  });
  assert.ok(!reply.startsWith('HTTP/1.1 101'), reply.slice(0, 80));
  assert.is((await api(server, '/api/health')).status, 200);
  // A message over maxPayload (64 KiB) closes that socket with 1009 and nothing else.
  const closed = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(server.wsUrl('/ws'));
    ws.on('open', () => ws.send('x'.repeat(65 * 1024)));
    ws.on('close', (code) => resolve(code));
    ws.on('error', () => undefined);
    setTimeout(() => reject(new Error('socket not closed')), 10_000);
  });
  assert.is(closed, 1009);
  const big = await raw(port, '/api/requirements', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ requirement: 'x'.repeat(70 * 1024), priority: 5 }) });
  assert.is(big.status, 413);
  assert.is((await api(server, '/api/health')).status, 200);
  expectFigure('web.robustness', '2,000-header upgrade refused, 65 KiB ws message closed with 1009, 70 KiB body refused with 413; server up after each');
});

test.run();
