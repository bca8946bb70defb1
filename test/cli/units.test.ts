// The CLI's small parts without subprocesses: .env parsing, the rotating log file, redaction, tar,
// durations and ages, colours. Fast.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDotenv } from '../../runtime/server/env.ts';
import { createRotatingFile } from '../../runtime/cli/_log.ts';
import { isSecretName, maskSecret, redactText, redactValue, secretValues } from '../../runtime/protocol/mod.ts';
import { filesUnder, tarGz, untarGz } from '../../runtime/cli/_tar.ts';
import { duration, forCli, parseAge, painter, useColor } from '../../runtime/cli/_output.ts';
import { tempDir } from './_run.ts';

test('.env: KEY=VALUE, export, comments, quotes, escapes, multi-line double quotes; errors name file and line', () => {
  const env = parseDotenv(['# top', '', 'export A=1', 'B = two words # note', "C='single # kept $X'", 'D="line\\nbreak \\"q\\""', 'E="multi', 'line"', 'F=', 'G=a#b'].join('\n'), '.env');
  assert.equal(env, { A: '1', B: 'two words', C: 'single # kept $X', D: 'line\nbreak "q"', E: 'multi\nline', F: '', G: 'a#b' });
  assert.throws(() => parseDotenv('OK=1\nnot a line', '/p/.env'), /\/p\/\.env:2: "not a line" is not KEY=VALUE/);
  assert.throws(() => parseDotenv("A='open", '.env'), /\.env:1: the value of A opens a single quote that never closes/);
  assert.throws(() => parseDotenv('A="x" y', '.env'), /unexpected text after the quoted value of A/);
});

test('rotating log: rotates by size and keeps N files, the newest lines in server.log', () => {
  const file = join(tempDir('orch-rotate-'), 'logs', 'server.log');
  const out = createRotatingFile(file, { maxBytes: 100, keep: 2 });
  for (let i = 0; i < 20; i++) out.write(`${JSON.stringify({ i, pad: 'x'.repeat(20) })}\n`);
  out.close();
  assert.ok(existsSync(`${file}.1`) && existsSync(`${file}.2`));
  assert.not.ok(existsSync(`${file}.3`), 'only keep=2 rotated files');
  for (const f of [file, `${file}.1`, `${file}.2`]) assert.ok(readFileSync(f).length <= 100, `${f} stays under maxBytes`);
  assert.match(readFileSync(file, 'utf8'), '"i":19');
  assert.match(readFileSync(`${file}.1`, 'utf8').split('\n')[0], /"i":1[0-9]/);
});

test('redaction: secret names, masks without fragments, values anywhere, key shapes', () => {
  for (const name of ['ANTHROPIC_API_KEY', 'GITHUB_TOKEN', 'AWS_SECRET', 'DB_PASSWORD', 'apiKey', 'ORCHESTRATOR_GATEWAY_KEY']) assert.ok(isSecretName(name), name);
  for (const name of ['PATH', 'ORCHESTRATOR_PORT', 'keySource', 'keyStatus', 'tokens']) assert.not.ok(isSecretName(name), name);
  assert.is(maskSecret('OPENAI_API_KEY', 'abcdefgh'), 'set (OPENAI_API_KEY, 8 chars)');
  const secrets = secretValues({ MY_TOKEN: 'tok-1234567', SHORT_KEY: 'ab', PATH: '/usr/bin' });
  assert.equal(secrets, [['MY_TOKEN', 'tok-1234567']]);
  assert.is(redactText('a tok-1234567 b sk-live-abcdefghijk Bearer abc.def.ghi123', secrets), 'a [REDACTED MY_TOKEN] b [REDACTED] [REDACTED]');
  assert.equal(redactValue({ nested: [{ apiKey: 'zzzzzz', note: 'has tok-1234567' }], n: 1 }, secrets), { nested: [{ apiKey: 'set (apiKey, 6 chars)', note: 'has [REDACTED MY_TOKEN]' }], n: 1 });
});

test('tar.gz: what tarGz writes, untarGz reads back, long paths included', () => {
  const long = `${'deep/'.repeat(30)}file.txt`;
  const entries = untarGz(tarGz([{ name: 'a.txt', content: 'hello' }, { name: long, content: new Uint8Array([0, 1, 2]) }, { name: 'empty', content: '' }]));
  assert.equal(entries.map((e) => e.name), ['a.txt', long, 'empty']);
  assert.is(entries[0].content.toString(), 'hello');
  assert.equal([...entries[1].content], [0, 1, 2]);
});

test('formatting: durations, ages, colours only on a TTY and never with NO_COLOR', () => {
  assert.is(duration(950), '950 ms');
  assert.is(duration(65_000), '1 min 5 s');
  assert.is(duration(3 * 86_400_000 + 3_600_000), '3 d 1 h');
  assert.is(parseAge('30d', '--older-than'), 30 * 86_400_000);
  assert.throws(() => parseAge('soon', '--older-than'), /--older-than is "soon"/);
  assert.ok(useColor({ isTTY: true }, {}));
  assert.not.ok(useColor({ isTTY: true }, { NO_COLOR: '1' }));
  assert.not.ok(useColor({ isTTY: false }, {}));
  assert.is(painter({ isTTY: true }, {})('red', 'x'), '\x1b[31mx\x1b[0m');
  assert.is(painter({ isTTY: true }, { NO_COLOR: '1' })('red', 'x'), 'x');
});

test('filesUnder (reset backups) never follows a link planted in the data dir', () => {
  const dir = tempDir();
  const outside = join(dir, 'outside');
  mkdirSync(join(outside, '.ssh'), { recursive: true });
  writeFileSync(join(outside, '.ssh', 'id_ed25519'), 'PRIVATE KEY');
  writeFileSync(join(outside, 'secret.txt'), 'SECRET');
  mkdirSync(join(dir, 'workspace', 't1', 'src'), { recursive: true });
  writeFileSync(join(dir, 'workspace', 't1', 'src', 'index.js'), 'export {}');
  symlinkSync(join(outside, '.ssh'), join(dir, 'workspace', 't1', 'keys'));
  symlinkSync(join(outside, 'secret.txt'), join(dir, 'workspace', 't1', 'secret.txt'));
  const entries = filesUnder(join(dir, 'workspace'), 'workspace');
  assert.equal(entries.map((e) => e.name), ['workspace/t1/src/index.js']);
  assert.not.ok(entries.some((e) => /PRIVATE|SECRET/.test(e.content.toString())));
});

test("the server's HTTP hints read as CLI commands", () => {
  assert.is(forCli('task "t-1" does not exist: list tasks with GET /api/tasks'), 'task "t-1" does not exist: list tasks with runtime tasks');
  assert.is(forCli('no migration exists: retry the task (POST /api/tasks/t-m3-1a/retry) to run it again'), 'no migration exists: retry the task (runtime tasks retry t-m3-1a) to run it again');
  assert.is(forCli('being retried already: watch it with GET /api/tasks/t-9'), 'being retried already: watch it with runtime tasks show t-9');
  assert.is(forCli('no agent x: GET /api/agents lists them'), 'no agent x: runtime agents lists them');
  assert.is(forCli('the samples listed at GET /api/demo'), 'the samples listed by runtime demo');
  assert.is(forCli('nothing to change here'), 'nothing to change here');
});

test.run();
