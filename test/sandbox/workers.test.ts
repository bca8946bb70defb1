// What the parent pool does with what a worker sends (issue 13, classes 2 and 3), on both
// transports (Node IPC for 'node-process', JSON lines for 'quickjs-process'), with stand-in workers
// that play a compromised or broken one: an oversized report is bounded at the pool, a report that
// is not one, a garbled line and a worker that asks to be retired each cost that worker (a fresh
// one takes the next run), and `probe()` shares one run among concurrent callers and replaces a
// worker that lies about the known-good run.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CUT_MARKER, REPORT_LIMITS, createSandbox } from '../../sandbox/mod.ts';
import type { Sandbox, SandboxDriver, SandboxReport } from '../../sandbox/mod.ts';

type Pooled = Sandbox & { workerPids(): number[] };
type Behaviour = 'huge' | 'malformed' | 'retire' | 'liar' | 'garbled' | 'flood';

const dir = mkdtempSync(join(tmpdir(), 'sandbox-fake-workers-'));
const input = { files: { 'a.js': 'export default 1;\n' }, entry: 'a.js', tests: [] };

/** The report a stand-in worker sends for `behaviour` (as source text, evaluated in the worker). */
const REPORTS: Record<Behaviour, string> = {
  // About 5 MB of JSON: far past every limit, within the 8 MiB a JSON line may take.
  huge: `({ ok: false, reason: 'tests-failed', message: 'M'.repeat(1e6),
    tests: Array.from({ length: 400 }, (_, i) => ({ name: 'n'.repeat(4000) + i, ok: i % 3 !== 0, ms: 1, message: 'x'.repeat(4000) })),
    console: Array.from({ length: 3 }, () => 'c'.repeat(3e5)), ms: 1, location: { file: 'f'.repeat(1e5), line: 1, column: 1 } })`,
  // A 20 MB line: more than a report can be.
  flood: `({ ok: false, reason: 'threw', message: 'M'.repeat(2e7) })`,
  malformed: `({ ok: 'yes', tests: 'all of them' })`,
  retire: `({ ok: true, tests: [], console: [], ms: 1, memoryBytes: 1 })`,
  liar: `({ ok: true, tests: [{ name: 'adds', ok: true, ms: 0 }], console: [], ms: 1, memoryBytes: 1 })`,
  garbled: `({ ok: true, tests: [], console: [], ms: 1, memoryBytes: 1 })`,
};

/** A stand-in for the worker binary: a shell script that ignores its arguments and runs a fake worker. */
function fakeNode(transport: 'ipc' | 'lines', behaviour: Behaviour): { nodePath: string; counter: string } {
  const counter = join(dir, `${transport}-${behaviour}.count`);
  writeFileSync(counter, '');
  const answer = [
    `const { appendFileSync } = require('node:fs');`,
    `const answer = (message) => {`,
    `  appendFileSync(${JSON.stringify(counter)}, 'run\\n');`,
    `  return { type: 'report', id: message.id, report: ${REPORTS[behaviour]}${behaviour === 'retire' ? ", retire: 'the engine is broken'" : ''} };`,
    `};`,
  ].join('\n');
  const worker = transport === 'ipc'
    ? `${answer}\nprocess.on('message', (m) => { if (m && m.type === 'validate') process.send(answer(m)); });\nprocess.on('disconnect', () => process.exit(0));\nprocess.send({ type: 'ready' });\n`
    : `${answer}\nlet buffer = '';\nprocess.stdin.setEncoding('utf8');\nprocess.stdin.on('data', (chunk) => {\n  buffer += chunk;\n  let end;\n  while ((end = buffer.indexOf('\\n')) >= 0) {\n    const line = buffer.slice(0, end); buffer = buffer.slice(end + 1);\n    const m = JSON.parse(line);\n    if (m.type !== 'validate') continue;\n    const reply = answer(m);\n    process.stdout.write(${behaviour === 'garbled' ? "'{\"type\": \"report\", garbled\\n'" : "JSON.stringify(reply) + '\\n'"});\n  }\n});\nprocess.stdin.on('end', () => process.exit(0));\nprocess.stdout.write(JSON.stringify({ type: 'ready' }) + '\\n');\n`;
  const script = join(dir, `${transport}-${behaviour}.cjs`);
  writeFileSync(script, worker);
  const nodePath = join(dir, `${transport}-${behaviour}.sh`);
  writeFileSync(nodePath, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(script)}\n`);
  chmodSync(nodePath, 0o755);
  return { nodePath, counter };
}

const transports: Array<['ipc' | 'lines', SandboxDriver]> = [['ipc', 'node-process'], ['lines', 'quickjs-process']];
const runs = (counter: string) => readFileSync(counter, 'utf8').split('\n').filter(Boolean).length;

function failed(report: SandboxReport): Extract<SandboxReport, { ok: false }> {
  if (report.ok) assert.unreachable(`expected a failed report, got ${JSON.stringify(report).slice(0, 300)}`);
  return report as Extract<SandboxReport, { ok: false }>;
}

for (const [transport, driver] of transports) {
  test(`${transport}: an oversized report from a worker is bounded at the pool`, async () => {
    const sandbox = createSandbox({ driver, nodePath: fakeNode(transport, 'huge').nodePath });
    try {
      const report = failed(await sandbox.validate(input));
      const bytes = Buffer.byteLength(JSON.stringify(report));
      assert.ok(bytes < REPORT_LIMITS.reportJsonBytes, `the report reached the caller with ${bytes} bytes of JSON`);
      assert.is(report.reason, 'tests-failed');
      assert.match(report.message, CUT_MARKER);
      assert.match(report.location?.file ?? '', CUT_MARKER);
      const tests = report.tests ?? [];
      assert.ok(tests.length <= REPORT_LIMITS.results);
      assert.ok(tests.slice(0, -1).every((t) => !t.ok), 'failures are kept first');
      assert.match(tests[tests.length - 1].name, /^\(\d+ more results not kept\)$/);
      assert.ok((report.console ?? []).every((line) => Buffer.byteLength(line) <= REPORT_LIMITS.consoleLineBytes));
    } finally {
      await sandbox.close();
    }
  });

  const what: Record<string, string> = {
    malformed: 'sends something that is not a report',
    retire: 'asks to be retired',
    garbled: 'writes a garbled line',
    flood: 'writes a 20 MB line',
  };
  for (const behaviour of ['malformed', 'retire', ...(transport === 'lines' ? ['garbled' as const, 'flood' as const] : [])] as Behaviour[]) {
    test(`${transport}: a worker that ${what[behaviour]} is replaced`, async () => {
      const fake = fakeNode(transport, behaviour);
      const sandbox = createSandbox({ driver, nodePath: fake.nodePath }) as Pooled;
      try {
        const first = await sandbox.validate(input);
        const [before] = sandbox.workerPids();
        if (behaviour === 'retire') {
          assert.ok(first.ok, 'the report itself is delivered');
        } else {
          const report = failed(first);
          assert.is(report.reason, 'threw');
          assert.match(report.message, /^internal sandbox error \(this is a bug in the sandbox, not in the code under test\): the sandbox worker (answered with something that is not a sandbox report|sent something that is not a message)/);
        }
        await sandbox.validate(input);
        assert.is(runs(fake.counter), 2, 'both runs reached a worker');
        const after = sandbox.workerPids();
        assert.ok(before === undefined || !after.includes(before), `the first worker (${before}) is gone: ${after}`);
      } finally {
        await sandbox.close();
      }
    });
  }

  test(`${transport}: concurrent probes share one run; a worker that lies about the known-good run is replaced`, async () => {
    const fake = fakeNode(transport, 'liar');
    const sandbox = createSandbox({ driver, nodePath: fake.nodePath }) as Pooled;
    try {
      const probes = await Promise.all(Array.from({ length: 5 }, () => sandbox.probe()));
      assert.is(runs(fake.counter), 1, 'five concurrent probes made one run');
      for (const probe of probes) {
        assert.is(probe.ok, false);
        assert.is(probe.driver, driver);
        assert.match(probe.message, 'the sandbox failed its known-good probe: the failing probe test was reported as passing');
      }
      assert.equal(sandbox.workerPids(), [], 'the lying worker was replaced');
      await sandbox.probe();
      assert.is(runs(fake.counter), 2, 'a later probe runs again');
    } finally {
      await sandbox.close();
    }
  });
}

test('probe() on the real drivers and on the unsupported one', async () => {
  for (const driver of ['node-process', 'quickjs-process', 'unsupported'] as SandboxDriver[]) {
    const sandbox = createSandbox({ driver });
    try {
      const probe = await sandbox.probe();
      assert.is(probe.driver, driver);
      assert.is(probe.ok, driver !== 'unsupported', `${driver}: ${probe.message}`);
      if (driver === 'unsupported') assert.match(probe.message, 'no sandbox driver is available');
    } finally {
      await sandbox.close();
    }
  }
});

test.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

test.run();
