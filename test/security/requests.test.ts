// The request door, as an attacker tries it against the real server process on Node and on Deno
// (docs/security.md, "The request target" and "Bodies"; docs/RELIABILITY.md rows web.*):
// - class 1: the guard judges the path the router serves: dot segments, escapes, backslashes and
//   doubled slashes under /ui/ never reach the API of a --remote server without its token; malformed
//   escapes and odd Host values get 400, never 500;
// - class 2: bodies are bounded while they stream: a brotli/gzip/deflate/zstd bomb under 1 KB is
//   refused with 413 within a few ms of server CPU and without the RSS growing; raw bytes stop at the
//   path's limit; concurrent uploads share one budget and cannot pin memory;
// - class 6: the launch token is read from the query of WebSocket upgrades only, and a `token`
//   parameter never reaches a route or the upstream;
// - class 7: "JSON only" is the parsed media type: text/plain; application/json is refused with 415.
import { test } from 'uvu';
import { DEFAULT_BODY_LIMIT } from '../../runtime/adapters/mod.ts';
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { ROOT, api, startServer, type StartedServer } from '../helpers/server.ts';
import { startFakeUpstream, type FakeUpstream } from '../fakes/upstream.ts';
import { expectFigure } from '../helpers/reliability.ts';

const DENO = join(ROOT, 'node_modules/.bin/deno');
let fake: FakeUpstream;
let local: StartedServer;
let remote: StartedServer;
let denoRemote: StartedServer;

test.before(async () => {
  fake = await startFakeUpstream();
  const env = { ORCHESTRATOR_PROVIDER: 'demo', ANTHROPIC_API_KEY: 'sk-ant-requests-test', ANTHROPIC_BASE_URL: fake.url };
  [local, remote, denoRemote] = await Promise.all([
    startServer({ env }),
    startServer({ env, args: ['--remote'] }),
    startServer({ env, args: ['--remote'], command: [DENO, 'run', '-A', '--quiet', join(ROOT, 'runtime/cli/main.ts')] }),
  ]);
});

test.after(async () => {
  for (const server of [local, remote, denoRemote]) {
    await server?.stop();
    if (server) rmSync(server.dataDir, { recursive: true, force: true });
  }
  await fake?.close();
});

interface Exchange {
  status: number;
  headers: string;
  body: string;
}

/** Writes one request exactly as given (no client normalises its target) and reads the answer. */
function exchange(port: number, head: string, body: Uint8Array | string = ''): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error) => (chunks.length ? undefined : reject(error)));
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const headers = split < 0 ? text : text.slice(0, split);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), headers, body: split < 0 ? '' : text.slice(split + 4) });
    });
    socket.write(head.endsWith('\r\n\r\n') ? head : `${head}\r\n\r\n`);
    if (body.length) socket.write(body);
  });
}

function get(server: StartedServer, target: string, headers: Record<string, string> = {}): Promise<Exchange> {
  const lines = Object.entries({ host: `127.0.0.1:${server.port}`, connection: 'close', ...headers }).map(([k, v]) => `${k}: ${v}`);
  return exchange(server.port, [`GET ${target} HTTP/1.1`, ...lines].join('\r\n'));
}

function post(server: StartedServer, target: string, body: Uint8Array | string, headers: Record<string, string> = {}): Promise<Exchange> {
  const all = { host: `127.0.0.1:${server.port}`, connection: 'close', 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers };
  const lines = Object.entries(all).map(([k, v]) => `${k}: ${v}`);
  return exchange(server.port, [`POST ${target} HTTP/1.1`, ...lines].join('\r\n'), body);
}

// Paths that start under /ui/ (open in remote mode) and resolve, one way or another, elsewhere.
const ESCAPES = [
  '/ui/../api/session',
  '/ui/%2e%2e/api/session',
  '/ui/%2E%2E/api/session',
  '/ui/.%2e/api/session',
  '/ui/%2e./api/session',
  '/ui/..\\api\\session',
  '/ui\\..\\api\\session',
  '/ui/..%5capi%5csession',
  '/ui/..%2fapi%2fsession',
  '/ui/..%252fapi%252fsession',
  '//ui/../api/session',
  '/ui//../api/session',
  '/ui/./../api/session',
  '/ui/x/../../api/session',
  '/ui/%2e%2e%2fapi/session',
  '/ui/..;/api/session',
  '/ui/../api/tasks',
  '/ui/../api/requirements',
  '/ui/%2e%2e/v1/models',
  '/ui/../../../api/session',
  '/%2e%2e/api/session',
  '/ui/..%00/api/session',
];

test('class 1: a --remote server never serves the API behind /ui/ without its token (Node and Deno)', async () => {
  for (const server of [remote, denoRemote]) {
    const token = server.token!;
    // Controls: the session answers with the token, the static files without.
    const session = await get(server, '/api/session', { 'x-orchestrator-token': token });
    assert.is(session.status, 200);
    assert.ok(session.body.includes(token), 'control: the session carries the token');
    assert.is((await get(server, '/api/session')).status, 401, 'control: no token, no session');
    assert.is((await get(server, '/ui/orchestrator-ui.js')).status, 200, 'control: the library is open');
    for (const path of ESCAPES) {
      const answer = await get(server, path);
      assert.ok([400, 401, 404].includes(answer.status), `${path} on ${server.proc.spawnfile}: ${answer.status} ${answer.body.slice(0, 200)}`);
      assert.not.ok(answer.body.includes(token), `${path} leaked the token`);
      assert.not.match(answer.body, /"tasks"\s*:|"taskId"/, `${path} reached the API`);
    }
  }
  // The bypass was live on today's code: "GET /ui/../api/session" answered 200 with the token on Node.
  const node = await get(remote, '/ui/../api/session');
  assert.is(node.status, 400, 'Node refuses a dot segment outright');
  assert.match(node.body, /dot segment/);
  expectFigure('web.target', `${ESCAPES.length}/${ESCAPES.length} paths under /ui/ that resolve elsewhere refused without the token on Node and on Deno (400, 401 or 404; 0 tokens, 0 API answers)`);
});

test('class 1: malformed escapes and odd Host values get 400, never 500 (Node and Deno)', async () => {
  const targets = ['/api/tasks/%zz', '/api/tasks/%E0%A4%A', '/api/tasks/%', '/api/tasks/%C0%AF', '/api/workspace/files/%FF', '/api/tasks/%00', 'api/tasks', 'http://evil.example/api/tasks'];
  const hosts = ['localhost:evil.com', '[::1', '127.0.0.1:99999', '127.0.0.1:8100:1', 'local host', '[::1]x', '::1'];
  for (const server of [local, remote, denoRemote]) {
    const token = { 'x-orchestrator-token': server.token! };
    for (const target of targets) {
      const answer = await get(server, target, token);
      assert.is.not(answer.status, 500, `${target}: ${answer.body.slice(0, 200)}`);
      if (server !== denoRemote || !target.startsWith('http')) assert.is(answer.status, 400, `${target} on ${server === denoRemote ? 'Deno' : 'Node'}: ${answer.status} ${answer.body.slice(0, 200)}`);
    }
    for (const host of hosts) {
      const answer = await get(server, '/api/tasks', { ...token, host });
      assert.is(answer.status, 400, `Host ${host} on ${server === denoRemote ? 'Deno' : 'Node'}: ${answer.status} ${answer.body.slice(0, 200)}`);
    }
    assert.is((await get(server, '/api/tasks', token)).status, 200, 'control: a plain request is served');
  }
  expectFigure('web.malformed', 'malformed escapes, targets that are not paths and odd Host values (localhost:evil.com, [::1, port 99999): 400 on Node and on Deno, 0 answers of 500');
});

/** The server's CPU time (user + system) in ms and its resident and peak memory in MB, from /proc. */
function usage(pid: number): { cpuMs: number; rssMb: number; peakMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { cpuMs: ticks * 10, rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

/** Resets the peak-RSS mark of a process (Linux: writing 5 to clear_refs), so VmHWM measures from now. */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

const GIB_OF_SPACES = () => Buffer.alloc(64 * 1024 * 1024, 0x20);

test('class 2: a compressed body (brotli: under 1 KB) that decodes past the limit is refused at once, CPU and memory bounded', async () => {
  const plain = GIB_OF_SPACES();
  const zstd = (zlib as unknown as { zstdCompressSync?: (b: Buffer) => Buffer }).zstdCompressSync;
  const brotli = (lgwin: number) => zlib.brotliCompressSync(plain, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_LGWIN]: lgwin } });
  // [encoding, body, status]: a brotli window past 4 MiB is refused before decoding (its first
  // output would cost ~90 ms of CPU); every other bomb stops at the limit or the 200:1 ratio.
  const bombs: Array<[string, Buffer, number]> = [
    ['br', brotli(22), 413],
    ['br', brotli(24), 415],
    ['gzip', zlib.gzipSync(plain, { level: 9 }), 413],
    ['deflate', zlib.deflateSync(plain, { level: 9 }), 413],
    ...(zstd ? [['zstd', zstd(plain), 413] as [string, Buffer, number]] : []),
  ];
  assert.ok(bombs[0][1].byteLength < 1024 && bombs[1][1].byteLength < 1024, 'the brotli bombs are under 1 KB');
  const pid = local.proc.pid!;
  const rows: string[] = [];
  for (const [encoding, bomb, status] of bombs) {
    for (const path of ['/api/requirements', '/v1/messages']) {
      // The server's CPU and RSS are sampled around the request, so anything else it does in that
      // window (a GC, the sandbox probe's bookkeeping) counts too; a busy machine widens the window.
      // The bomb's own cost is the least of up to five tries; every try must be refused the same way.
      let cpu = Infinity;
      let grew = Infinity;
      for (let attempt = 0; attempt < 5 && (cpu > 50 || grew >= 50); attempt++) {
        const tasksBefore = (await api(local, '/api/tasks')).body.tasks.length;
        const upstreamBefore = fake.requests.length;
        const before = usage(pid);
        resetPeak(pid);
        const answer = await post(local, path, bomb, { 'content-encoding': encoding, 'x-api-key': 'client-key' });
        const after = usage(pid);
        assert.is(answer.status, status, `${encoding} bomb (${bomb.byteLength} B) to ${path}: ${answer.status} ${answer.body.slice(0, 300)}`);
        assert.match(answer.body, status === 413 ? /E_TOO_LARGE/ : /E_CONTENT_ENCODING.*window/);
        assert.is((await api(local, '/api/tasks')).body.tasks.length, tasksBefore, 'no task was made');
        assert.is(fake.requests.length, upstreamBefore, 'nothing reached the upstream');
        cpu = Math.min(cpu, after.cpuMs - before.cpuMs);
        grew = Math.min(grew, after.peakMb - before.rssMb);
      }
      rows.push(`${encoding} ${bomb.byteLength} B → ${path}: ${cpu} ms CPU, peak RSS +${grew.toFixed(1)} MB`);
      // CPU time, not wall time: a busy machine does not inflate it. Decoding the whole 64 MiB costs
      // ~450 ms (brotli) here; stopping at the limit or the ratio costs a few.
      assert.ok(cpu <= 50, `${encoding} bomb to ${path} cost ${cpu} ms of server CPU (the least of 5 tries)`);
      assert.ok(grew < 50, `${encoding} bomb to ${path} grew the server's RSS by ${grew.toFixed(1)} MB`);
    }
  }
  console.log(`      ${rows.join('\n      ')}`);
  // The same reader on Deno (node:zlib under Deno's Node compatibility).
  const deno = await post(denoRemote, '/api/requirements', bombs[0][1], { 'content-encoding': 'br', 'x-orchestrator-token': denoRemote.token! });
  assert.is(deno.status, 413, `Deno: ${deno.status} ${deno.body.slice(0, 300)}`);
  // A real compressed request still passes (the proxy test covers gzip end to end).
  const ok = await post(local, '/api/requirements', zlib.brotliCompressSync(JSON.stringify({ requirement: 'Write a fizzbuzz module with tests', priority: 5 })), { 'content-encoding': 'br' });
  assert.is(ok.status, 202, ok.body.slice(0, 300));
  expectFigure('web.bombs', `${bombs.length * 2}/${bombs.length * 2} bombs of 64 MiB (br in ${bombs[0][1].byteLength} and ${bombs[1][1].byteLength} bytes, gzip, deflate${zstd ? ', zstd' : ''}; to the API and the proxy) refused with 413 (415 for a br window over 4 MiB) within 50 ms of server CPU each, peak RSS +50 MB at most`);
});

test('class 2: a refused upload ends its connection cleanly: the client does not reuse it, its next request succeeds', async () => {
  // fetch keeps connections for reuse: a 413 that left the connection looking reusable (while the
  // server never reads the rest of it) made the next POST on it fail with "other side closed".
  const tooLarge = Buffer.alloc(DEFAULT_BODY_LIMIT + 1, 0x20);
  for (let i = 0; i < 5; i++) {
    const refused = await fetch(`${local.url}/api/requirements`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: tooLarge });
    assert.is(refused.status, 413);
    assert.is(refused.headers.get('connection'), 'close');
    await refused.text();
    const next = await api(local, '/api/requirements', { body: { requirement: 'Write a fizzbuzz module with tests' } });
    assert.is(next.status, 202, `request ${i + 1} after a 413: ${JSON.stringify(next.body)}`);
  }
});

test('class 2: raw bytes stop at the path limit; concurrent uploads share one budget', async () => {
  // A client that keeps sending after the answer: the server reads no more than its socket buffers
  // (it stops at the limit, answers, and closes the connection a second later).
  const overfill = (head: string, frame: (chunk: Buffer) => Buffer | string) =>
    new Promise<{ status: number; sent: number }>((resolve) => {
      const socket = connect(local.port, '127.0.0.1');
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      let text = '';
      socket.on('data', (d) => (text += d));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), sent }));
      socket.write(head);
      const pump = () => {
        while (sent < 1024 * 1024 * 1024 && !socket.destroyed) {
          sent += chunk.length;
          if (!socket.write(frame(chunk))) return void socket.once('drain', pump);
        }
      };
      pump();
    });
  const head = `POST /api/requirements HTTP/1.1\r\nhost: 127.0.0.1:${local.port}\r\ncontent-type: application/json\r\n`;
  const declared = await overfill(`${head}content-length: 1000000000\r\n\r\n`, (chunk) => chunk);
  const streamed = await overfill(`${head}transfer-encoding: chunked\r\n\r\n`, (chunk) => `${chunk.length.toString(16)}\r\n${chunk.toString('latin1')}\r\n`);
  for (const [name, outcome] of Object.entries({ declared, streamed })) {
    assert.is(outcome.status, 413, `${name}: ${outcome.status}`);
    assert.ok(outcome.sent < 16 * 1024 * 1024, `${name}: the server kept reading: the client sent ${outcome.sent} bytes before the close`);
  }

  // Ten uploads of 31 MiB to the proxy at once, each held open one byte short of its end: past the
  // 256 MiB budget the rest are refused with 503 and retry-after, and the RSS stays bounded.
  const pid = local.proc.pid!;
  const base = usage(pid).rssMb;
  resetPeak(pid);
  const size = 31 * 1024 * 1024;
  const mib = Buffer.alloc(1024 * 1024, 0x20);
  const uploads = Array.from({ length: 10 }, () => {
    const socket = connect(local.port, '127.0.0.1');
    let text = '';
    socket.on('data', (d) => (text += d));
    socket.on('error', () => undefined);
    const done = new Promise<string>((resolve) => socket.on('close', () => resolve(text)));
    socket.write(`POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1:${local.port}\r\ncontent-type: application/json\r\ncontent-length: ${size}\r\n\r\n`);
    const writeAll = async () => {
      for (let i = 0; i < 31 && !socket.destroyed; i++) {
        const part = i === 30 ? mib.subarray(0, mib.length - 1) : mib;
        if (!socket.write(part)) {
          await new Promise<void>((r) => {
            const done = () => (socket.off('drain', done), socket.off('close', done), r());
            socket.on('drain', done).on('close', done);
          });
        }
      }
    };
    return { socket, done, written: writeAll() };
  });
  await Promise.all(uploads.map((u) => u.written));
  // Give the server time to read what was sent (a generous bound; the check is on outcomes, not speed).
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && uploads.filter((u) => u.socket.destroyed).length < 2) await new Promise((r) => setTimeout(r, 100));
  const peak = usage(pid).peakMb;
  for (const upload of uploads) upload.socket.destroy();
  const answers = await Promise.all(uploads.map((u) => u.done));
  const busy = answers.filter((a) => /^HTTP\/1\.1 503/.test(a) && /retry-after: 1/i.test(a) && /E_BUSY/.test(a));
  assert.ok(busy.length >= 2, `uploads refused for the budget: ${busy.length}; answers: ${answers.map((a) => a.slice(0, 12)).join(',')}`);
  assert.ok(peak - base < 400, `ten 31 MiB uploads took the server's RSS from ${base.toFixed(0)} to ${peak.toFixed(0)} MB`);
  // The budget came back: an ordinary call is served.
  assert.is((await api(local, '/api/health')).status, 200);
  const after = await post(local, '/api/requirements', JSON.stringify({ requirement: 'Write a fizzbuzz module with tests', priority: 5 }));
  assert.is(after.status, 202, after.body.slice(0, 200));
  expectFigure('web.uploads', 'bodies over the limit refused with 413 as declared (1 GB) or as streamed, the connection closed after less than 16 MiB of a client that keeps sending; 10 concurrent 31 MiB proxy uploads held open: past the 256 MiB budget refused with 503 and retry-after, RSS +400 MB at most');
});

test('class 6: the token is read from the query of WebSocket upgrades only, and never reaches a route or the upstream', async () => {
  const token = local.token!;
  const body = JSON.stringify({ requirement: 'Write a fizzbuzz module with tests', priority: 5 });
  // A foreign page cannot use a token in the URL to pass the Origin check.
  const foreign = await post(local, `/api/requirements?token=${token}`, body, { origin: 'http://evil.example' });
  assert.is(foreign.status, 403, foreign.body.slice(0, 200));
  // In remote mode the query does not authenticate a plain request.
  for (const server of [remote, denoRemote]) {
    const answer = await get(server, `/api/tasks?token=${encodeURIComponent(server.token!)}`);
    assert.is(answer.status, 401, `${server === denoRemote ? 'Deno' : 'Node'}: ${answer.body.slice(0, 200)}`);
  }
  // The proxy forwards the query upstream, but never a token parameter.
  const before = fake.requests.length;
  const call = await post(local, `/v1/messages?beta=true&token=${token}&token=x`, JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }), {
    'x-api-key': 'client-key',
    'anthropic-version': '2023-06-01',
  });
  assert.is(call.status, 200, call.body.slice(0, 300));
  const forwarded = fake.requests.slice(before).map((r) => r.path);
  assert.equal(forwarded, ['/v1/messages?beta=true'], `forwarded: ${forwarded.join(', ')}`);
  assert.not.ok(JSON.stringify(fake.requests.slice(before)).includes(token), 'the token reached the upstream');
  expectFigure('web.token-query', 'a token in the query of a POST, of a remote GET and of a proxy call: refused (403, 401) or stripped; 0 upstream requests carried it');
});

test('class 7: content types are parsed, not searched', async () => {
  const body = JSON.stringify({ requirement: 'Write a fizzbuzz module with tests', priority: 5 });
  const refused = ['text/plain; application/json', 'text/plain;charset=application/json', 'application/x-www-form-urlencoded; x=application/json', 'multipart/form-data; boundary=json', 'application/jsonp', 'text/json+xml', ''];
  const accepted = ['application/json', 'Application/JSON; charset=utf-8', 'application/vnd.api+json'];
  const before = (await api(local, '/api/tasks')).body.tasks.length;
  for (const type of refused) {
    for (const path of ['/api/requirements', '/v1/messages']) {
      const answer = await post(local, path, body, { 'content-type': type, 'x-api-key': 'client-key' });
      assert.is(answer.status, 415, `${JSON.stringify(type)} to ${path}: ${answer.status} ${answer.body.slice(0, 200)}`);
    }
  }
  assert.is((await api(local, '/api/tasks')).body.tasks.length, before, 'no task was made');
  for (const type of accepted) {
    const answer = await post(local, '/api/requirements', body, { 'content-type': type });
    assert.is(answer.status, 202, `${type}: ${answer.body.slice(0, 200)}`);
  }
  expectFigure('web.content-type', `${refused.length * 2}/${refused.length * 2} bodies whose media type is not JSON (text/plain; application/json, …) refused with 415 on the API and the proxy; ${accepted.length}/${accepted.length} JSON types accepted`);
});

test.run();
