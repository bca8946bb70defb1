// The escape corpus (threats note, section A 1, 2, 6, 7) against both drivers: every payload runs,
// tries to reach process/require/Deno, read a canary env var planted in the server process, and
// write the canary file. 0 escapes, canary untouched, secret never in any report, pool alive.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSandbox } from '../../sandbox/mod.ts';
import type { Sandbox, SandboxDriver, SandboxReport } from '../../sandbox/mod.ts';
import { PAYLOADS, prelude } from './payloads.ts';

const ENV = 'ORCHESTRATOR_SANDBOX_CANARY';
const SECRET = `canary-${randomBytes(12).toString('hex')}`;
process.env[ENV] = SECRET;
const dir = mkdtempSync(join(tmpdir(), 'sandbox-canary-'));
const CANARY = join(dir, 'canary.txt');
writeFileSync(CANARY, 'untouched\n');
const before = statSync(CANARY).mtimeMs;
const ROOT = new URL('../..', import.meta.url).pathname;
const healthy = { files: { 'ok.js': 'export default 1;\n', 'ok.test.js': "test('fine', () => expect(1).toBe(1));\n" }, entry: 'ok.js', tests: ['ok.test.js'] };

async function corpus(driver: SandboxDriver): Promise<Map<string, SandboxReport>> {
  const sandbox = createSandbox({ driver }) as Sandbox & { workerPids(): number[] };
  const reports = new Map<string, SandboxReport>();
  try {
    for (const [name, body] of PAYLOADS) {
      const report = await sandbox.validate({ files: { 'payload.js': prelude(CANARY, ENV) + body }, entry: 'payload.js', tests: [], limits: { timeoutMs: 4000 } });
      reports.set(name, report);
    }
    const after = await sandbox.validate(healthy);
    assert.ok(after.ok, `${driver}: the pool still validates after the corpus: ${JSON.stringify(after)}`);
    assert.ok(sandbox.workerPids().length > 0, 'a worker is alive');
  } finally {
    await sandbox.close();
  }
  return reports;
}

function checkCorpus(driver: SandboxDriver, reports: Map<string, SandboxReport>): void {
  assert.ok(PAYLOADS.length >= 40, `the corpus has ${PAYLOADS.length} payloads`);
  for (const [name, report] of reports) {
    const text = JSON.stringify(report);
    assert.not.match(text, 'ESCAPED', `${driver} / ${name}: ${text.slice(0, 600)}`);
    assert.not.match(text, 'IMPORTED', `${driver} / ${name}`);
    assert.not.match(text, 'HOSTPATH', `${driver} / ${name}`);
    assert.not.match(text, SECRET, `${driver} / ${name}: the canary env var leaked`);
    assert.not.match(text, ROOT, `${driver} / ${name}: a host path leaked: ${text.slice(0, 600)}`);
    // The payload really ran (a payload that never runs proves nothing).
    assert.ok(report.ok === false && report.reason === 'syntax' ? false : (report.console ?? []).includes('payload done'), `${driver} / ${name} ran to its end: ${text.slice(0, 400)}`);
  }
  assert.is(readFileSync(CANARY, 'utf8'), 'untouched\n', 'the canary file is untouched');
  assert.is(statSync(CANARY).mtimeMs, before, 'the canary file was not rewritten');
}

function audit(report: SandboxReport | undefined): { visited: number; found: string[] } {
  const line = (report?.console ?? []).find((text) => text.startsWith('AUDIT '));
  assert.ok(line !== undefined, `the audit ran: ${JSON.stringify(report).slice(0, 300)}`);
  const match = /^AUDIT visited=(\d+) found=(.*)$/.exec(line as string);
  return { visited: Number(match?.[1]), found: JSON.parse(match?.[2] ?? '[]') };
}

test('node-process: 40+ escape payloads, 0 escapes, canary untouched, no host objects reachable', async () => {
  const reports = await corpus('node-process');
  checkCorpus('node-process', reports);
  const result = audit(reports.get('handle-leak audit walk'));
  assert.ok(result.visited > 200, `the audit walked ${result.visited} objects`);
  assert.equal(result.found, [], 'no Reference, ExternalCopy, Callback or Isolate reachable from the globals');
});

test('quickjs-process: the same corpus, 0 escapes, canary untouched', async () => {
  const reports = await corpus('quickjs-process');
  checkCorpus('quickjs-process', reports);
  const result = audit(reports.get('handle-leak audit walk'));
  assert.ok(result.visited > 200, `the audit walked ${result.visited} objects`);
  assert.equal(result.found, []);
});

test('the audit walker does find a planted host-like object (the check can fail)', async () => {
  const sandbox = createSandbox();
  const walker = PAYLOADS.find(([name]) => name === 'handle-leak audit walk')?.[1] ?? '';
  const planted = `class Reference {}\nglobalThis.leak = { deep: new Reference() };\n${walker}`;
  const report = await sandbox.validate({ files: { 'a.js': prelude(CANARY, ENV) + planted }, entry: 'a.js', tests: [] });
  await sandbox.close();
  assert.equal(audit(report).found, ['globalThis.leak.deep Reference']);
});

test('the escape attempt code works when handed a real host object (the payloads can detect an escape)', async () => {
  // Run the prelude's `attempt` here in the test process, against the real `process`: it must report.
  const lines: string[] = [];
  const fakeConsole = { log: (text: string) => lines.push(text) };
  const run = new Function('console', 'process', `${prelude(join(dir, 'control.txt'), ENV)}\nattempt(process, 'control');`);
  run(fakeConsole, process);
  assert.ok(lines.some((line) => line.startsWith('ESCAPED env via control') && line.includes(SECRET)), lines.join('\n'));
});

test.run();
