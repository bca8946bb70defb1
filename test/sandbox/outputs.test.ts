// Every output of generated code has a size limit (issue 13, class 2), on both drivers: a 20 MB
// error message at the top level, in a test, in a beforeAll hook or as a rejected promise, a 20 MB
// thrown string, a 20 MB test name, 10,000 tests with 100 KB names and messages, a 20 MB console
// line. Each report's JSON stays under 256 KiB, shows the "…cut (N bytes more)" marker, keeps its
// reason, and the worker serves a known-good run afterwards. Plus boundReport itself: exact N on
// multi-byte text, failures kept first, idempotent.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CUT_MARKER, REPORT_LIMITS, boundReport, createSandbox } from '../../sandbox/mod.ts';
import type { Sandbox, SandboxDriver, SandboxReport, ValidateInput } from '../../sandbox/mod.ts';

const drivers: SandboxDriver[] = ['node-process', 'quickjs-process'];
const sandboxes = Object.fromEntries(drivers.map((driver) => [driver, createSandbox({ driver })])) as Record<SandboxDriver, Sandbox>;
/**
 * The validator's memory limit; a generous time limit (a safety bound, not a speed target: QuickJS
 * scans 20 MB strings at WebAssembly speed, and the cores may be busy).
 */
// Room for three 20 MB strings and their copies: these tests are about the caps on what comes out, and
// at 64 MB a busy machine's GC thrash near the limit made a run look like a memory bomb (seen once
// under two concurrent `npm test`s).
const LIMITS = { timeoutMs: 60_000, memoryMb: 256 };
const BIG = "'M'.repeat(2e7)";

function jsonBytes(report: SandboxReport): number {
  return Buffer.byteLength(JSON.stringify(report));
}

/** The report is within the limits and shows the marker somewhere in `where`. */
function bounded(label: string, report: SandboxReport, where: (report: SandboxReport) => string[]): void {
  const bytes = jsonBytes(report);
  assert.ok(bytes < REPORT_LIMITS.reportJsonBytes, `${label}: the report's JSON is ${bytes} bytes`);
  const texts = where(report);
  assert.ok(texts.some((text) => CUT_MARKER.test(text)), `${label}: no "…cut (N bytes more)" marker in ${JSON.stringify(texts.map((text) => text.slice(-80)))}`);
  if (!report.ok) assert.ok(Buffer.byteLength(report.message) <= REPORT_LIMITS.messageBytes, `${label}: message of ${Buffer.byteLength(report.message)} bytes`);
  for (const result of report.ok ? report.tests : report.tests ?? []) {
    assert.ok(Buffer.byteLength(result.name) <= REPORT_LIMITS.testNameBytes, `${label}: a test name of ${Buffer.byteLength(result.name)} bytes`);
    assert.ok(Buffer.byteLength(result.message ?? '') <= REPORT_LIMITS.testMessageBytes, `${label}: a test message of ${Buffer.byteLength(result.message ?? '')} bytes`);
  }
  for (const line of report.console ?? []) assert.ok(Buffer.byteLength(line) <= REPORT_LIMITS.consoleLineBytes, `${label}: a console line of ${Buffer.byteLength(line)} bytes`);
}

function failed(report: SandboxReport): Extract<SandboxReport, { ok: false }> {
  if (report.ok) assert.unreachable(`expected a failed report, got ${JSON.stringify(report).slice(0, 500)}`);
  return report as Extract<SandboxReport, { ok: false }>;
}

const messageAndTests = (report: SandboxReport) => [report.ok ? '' : report.message, ...(report.tests ?? []).flatMap((t) => [t.name, t.message ?? ''])];
const withTests = (body: string): ValidateInput => ({ files: { 'a.js': 'export const one = 1;\n', 'a.test.js': body }, entry: 'a.js', tests: ['a.test.js'], limits: LIMITS });
const knownGood = withTests("import { one } from './a.js';\ntest('one', () => expect(one).toBe(1));\n");

async function servesKnownGood(driver: SandboxDriver, label: string): Promise<void> {
  const next = await sandboxes[driver].validate(knownGood);
  assert.ok(next.ok, `${driver} after ${label}: ${JSON.stringify(next).slice(0, 400)}`);
}

for (const driver of drivers) {
  const sandbox = sandboxes[driver];

  test(`${driver}: a 20 MB error thrown at the top level is 'threw', cut with the marker`, async () => {
    const report = failed(await sandbox.validate({ files: { 'a.js': `throw new Error(${BIG});\n` }, entry: 'a.js', tests: [], limits: LIMITS }));
    assert.is(report.reason, 'threw', report.message.slice(0, 300));
    assert.match(report.message, /^Error: MMMM/);
    bounded('top level', report, messageAndTests);
    const cut = CUT_MARKER.exec(report.message);
    assert.ok(cut !== null && Number(cut[1]) > 19_000_000, `N counts the bytes cut: ${report.message.slice(-120)}`);
    await servesKnownGood(driver, 'a 20 MB top-level error');
  });

  test(`${driver}: a 20 MB thrown string and a 20 MB rejected top-level await are 'threw', bounded`, async () => {
    const thrown = failed(await sandbox.validate({ files: { 'a.js': `throw ${BIG};\n` }, entry: 'a.js', tests: [], limits: LIMITS }));
    assert.is(thrown.reason, 'threw', thrown.message.slice(0, 300));
    assert.ok(jsonBytes(thrown) < REPORT_LIMITS.reportJsonBytes, `${jsonBytes(thrown)} bytes`);
    const rejected = failed(await sandbox.validate({ files: { 'a.js': `await Promise.reject(new Error(${BIG}));\nexport default 1;\n` }, entry: 'a.js', tests: [], limits: LIMITS }));
    assert.is(rejected.reason, 'threw', rejected.message.slice(0, 300));
    bounded('rejected top-level await', rejected, messageAndTests);
    await servesKnownGood(driver, 'a 20 MB rejection');
  });

  test(`${driver}: 20 MB errors in a test, a rejected promise and a beforeAll hook are 'tests-failed', bounded`, async () => {
    const report = failed(await sandbox.validate(withTests([
      `const big = ${BIG};`,
      "test('throws', () => { throw new Error(big); });",
      "test('rejects', () => Promise.reject(new Error(big)));",
      "describe('setup', () => { beforeAll(() => { throw new Error(big); }); test('uses it', () => {}); });",
      "test('passes', () => expect(1).toBe(1));",
    ].join('\n'))));
    assert.is(report.reason, 'tests-failed', report.message.slice(0, 300));
    assert.equal(report.tests?.map((t) => [t.name, t.ok]), [['throws', false], ['rejects', false], ['setup > uses it', false], ['passes', true]]);
    assert.match(report.tests?.[2].message ?? '', /^beforeAll hook failed: Error: MMMM/);
    assert.match(report.message, /^3 of 4 tests failed: throws: Error: MMMM/);
    bounded('in tests', report, messageAndTests);
    for (const result of report.tests?.slice(0, 3) ?? []) assert.match(result.message ?? '', CUT_MARKER, `${result.name} is cut`);
    await servesKnownGood(driver, '20 MB errors in tests');
  });

  test(`${driver}: a 20 MB test name is cut with the marker`, async () => {
    const report = failed(await sandbox.validate(withTests(`test(${BIG}, () => expect(1).toBe(2));\ntest('short', () => {});\n`)));
    assert.is(report.reason, 'tests-failed', report.message.slice(0, 300));
    assert.match(report.tests?.[0].name ?? '', /^MMMM.*…cut \(\d+ bytes more\)$/);
    assert.equal(report.tests?.map((t) => t.ok), [false, true]);
    bounded('a 20 MB name', report, messageAndTests);
    await servesKnownGood(driver, 'a 20 MB test name');
  });

  test(`${driver}: 10,000 tests with 100 KB names and messages: at most 500 results, failures first, bounded`, async () => {
    const report = failed(await sandbox.validate(withTests([
      "const big = 'n'.repeat(100_000);",
      'for (let i = 0; i < 10_000; i++) {',
      '  test(big + i, () => { if (i % 2 === 1) throw new Error(big + i); });',
      '}',
    ].join('\n'))));
    assert.is(report.reason, 'tests-failed', report.message.slice(0, 300));
    assert.match(report.message, /^5000 of 10000 tests failed: n+…cut \(\d+ bytes more\): Error: n+/);
    const tests = report.tests ?? [];
    assert.ok(tests.length <= REPORT_LIMITS.results, `${tests.length} results`);
    const summary = tests[tests.length - 1];
    const counted = /^\((\d+) more results not kept\)$/.exec(summary.name);
    assert.ok(counted !== null, `a summary entry: ${JSON.stringify(summary)}`);
    const kept = tests.slice(0, -1);
    assert.ok(kept.length > 0 && kept.every((t) => !t.ok), 'failures are kept in preference to passes');
    assert.is(Number(counted?.[1]) + kept.length, 10_000, 'every test is kept or counted');
    assert.match(summary.message ?? '', new RegExp(`^${5000 - kept.length} of them failed$`));
    bounded('10,000 tests', report, messageAndTests);
    await servesKnownGood(driver, '10,000 big tests');
  });

  test(`${driver}: a 20 MB console line is cut to 8 KiB with the marker`, async () => {
    const report = await sandbox.validate({ files: { 'a.js': `console.log(${BIG});\nconsole.log('after');\n` }, entry: 'a.js', tests: [], limits: LIMITS });
    assert.ok(report.ok, JSON.stringify(report).slice(0, 300));
    assert.equal(report.console.length, 2);
    assert.is(report.console[1], 'after');
    const cut = CUT_MARKER.exec(report.console[0]);
    assert.is(Number(cut?.[1]) + report.console[0].indexOf('…'), 20_000_000, 'N is exactly the bytes cut');
    bounded('a 20 MB line', report, (r) => r.console ?? []);
    await servesKnownGood(driver, 'a 20 MB console line');
  });
}

test('boundReport: N counts UTF-8 bytes, never splits a character, keeps failures first, and is idempotent', () => {
  const emoji = '😀'.repeat(10_000); // 4 bytes each, two UTF-16 units
  const accents = 'é'.repeat(10_000); // 2 bytes each
  const tests = Array.from({ length: 800 }, (_, i) => ({ name: `t${i} ${accents}`, ok: i !== 650, ms: 1, ...(i === 650 ? { message: emoji } : {}) }));
  const report = boundReport({ ok: false, reason: 'tests-failed', message: emoji, tests, console: [accents, 'x'] });
  assert.is(report.ok, false);
  if (report.ok) return;
  const head = report.message.slice(0, report.message.indexOf('…'));
  assert.ok(/^(😀)+$/u.test(head), 'no emoji is split');
  assert.is(Buffer.byteLength(head) + Number(CUT_MARKER.exec(report.message)?.[1]), 40_000, 'N is the UTF-8 bytes cut');
  assert.ok(Buffer.byteLength(report.message) <= REPORT_LIMITS.messageBytes);
  const kept = report.tests ?? [];
  assert.ok(kept.some((t) => t.name.startsWith('t650 ') && !t.ok), 'the one failure is kept');
  assert.ok(Buffer.byteLength(JSON.stringify(kept)) <= REPORT_LIMITS.resultsJsonBytes);
  assert.match(kept[kept.length - 1].name, /^\(\d+ more results not kept\)$/);
  assert.equal(boundReport(report), report, 'bounding twice changes nothing');
  const small: SandboxReport = { ok: true, tests: [{ name: 'a', ok: true, ms: 1 }], console: ['hi'], ms: 2, memoryBytes: 3 };
  assert.equal(boundReport(small), small, 'a report within the limits is unchanged');
  const escaped = boundReport({ ok: true, tests: [], console: Array.from({ length: 100 }, () => '\u0001'.repeat(8000)), ms: 1, memoryBytes: 1 });
  assert.ok(Buffer.byteLength(JSON.stringify(escaped)) < REPORT_LIMITS.consoleJsonBytes + 100, 'console JSON counts its escapes');
  const malformed = boundReport({ ok: 'yes' } as unknown as SandboxReport);
  assert.is(malformed.ok, false);
  if (!malformed.ok) assert.match(malformed.message, 'malformed');
});

test.after(async () => {
  await Promise.all(drivers.map((driver) => sandboxes[driver].close()));
});

test.run();
