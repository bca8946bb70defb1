import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { builtinAgents, parseImplementation } from '../../agents/mod.ts';
import { createBus } from '../../runtime/bus/mod.ts';
import { createDemoProvider, demoSamples, loadTranscripts, DEMO_TRANSCRIPTS_DIR } from '../../runtime/llm/mod.ts';
import type { Feedback, GeneratedFile, Implementation, SandboxReport } from '../../runtime/protocol/mod.ts';
import { startSupervisor } from '../../runtime/supervisor/mod.ts';
import { createWorkspace } from '../../runtime/workspace/mod.ts';
import { createSandbox } from '../../sandbox/mod.ts';
import { review } from '../../plugins/style-reviewer/mod.ts';

// The bundled demo transcripts must hold code that really passes its tests in the real sandbox.
const base = mkdtempSync(join(tmpdir(), 'orch-transcripts-'));
const workspace = createWorkspace({ root: join(base, 'workspace'), archiveRoot: join(base, 'archive') });
const sandbox = createSandbox();
const bus = createBus();
const supervisor = startSupervisor({
  bus,
  plugins: builtinAgents.map((plugin) => ({ plugin, source: 'agents', builtin: true, config: {} })),
  capabilities: { llm: createDemoProvider(), sandbox, workspace, log: () => {} },
});
const transcripts = loadTranscripts(DEMO_TRANSCRIPTS_DIR);

function filesOf(implementation: Implementation): Record<string, string> {
  return Object.fromEntries(implementation.files.map((f) => [f.path, f.content]));
}

test('the bundled transcripts are the demo samples', () => {
  assert.equal(transcripts.map((t) => t.id), ['csv-parser', 'fizzbuzz', 'svg-bar-chart']);
  assert.equal(demoSamples().map((s) => s.requirement), [
    'Build a small CSV parser with tests',
    'Write a fizzbuzz module with tests',
    'Draw an SVG bar chart of monthly sales',
  ]);
});

test('every transcript: the final implementer turn parses and passes the real sandbox', async () => {
  for (const transcript of transcripts) {
    const turns = transcript.turns.implementer;
    const implementation = parseImplementation(turns[turns.length - 1]);
    assert.ok(implementation.tests.length > 0, `${transcript.id} has tests`);
    const report = await sandbox.validate({ files: filesOf(implementation), entry: implementation.entry, tests: implementation.tests, limits: { memoryMb: 64, timeoutMs: 5000 } });
    assert.is(report.ok, true, `${transcript.id}: ${JSON.stringify(report)}`);
    assert.ok(report.ok && report.tests.length >= 6 && report.tests.every((t) => t.ok), transcript.id);
    assert.equal(review(implementation.files, { maxLineLength: 200, forbid: ['debugger'] }), [], `${transcript.id} passes the style-reviewer defaults`);
  }
});

test('the CSV transcript turn 0 has a real bug that its own tests catch', async () => {
  const csv = transcripts.find((t) => t.id === 'csv-parser')!;
  const implementation = parseImplementation(csv.turns.implementer[0]);
  const report = await sandbox.validate({ files: filesOf(implementation), entry: implementation.entry, tests: implementation.tests });
  assert.is(report.ok, false);
  assert.is(!report.ok && report.reason, 'tests-failed', JSON.stringify(report));
  assert.ok(!report.ok && report.tests?.some((t) => !t.ok && t.name.includes('keeps the delimiter inside a quoted field')));
});

/** Runs one sample through the six agents the way the pipeline does, with up to `max` implementer attempts. */
async function runSample(requirement: string, taskId: string, max = 3) {
  const { prompt } = await bus.send('role:enhancer', 'enhance.request', { requirement }, { taskId });
  const analysis = await bus.send('role:analyst', 'analysis.request', { requirement, prompt }, { taskId });
  const plan = analysis.complexity === 'complex' ? (await bus.send('role:reasoner', 'reasoning.request', { requirement, prompt, analysis }, { taskId })).plan : null;
  let feedback: Feedback | null = null;
  let previous: GeneratedFile[] | null = null;
  const reasons: string[] = [];
  for (let iteration = 1; iteration <= max; iteration++) {
    const implementation: Implementation = await bus.send('role:implementer', 'implementation.request', { requirement, prompt, analysis, plan, feedback, previous }, { taskId });
    const { report, findings }: { report: SandboxReport; findings: string[] } = await bus.send('role:validator', 'validation.request', { requirement, implementation }, { taskId });
    if (report.ok) {
      const { written } = await bus.send('role:integrator', 'integration.request', { implementation, report }, { taskId });
      return { analysis, plan, iterations: iteration, reasons, written };
    }
    reasons.push(report.reason);
    feedback = { iteration, findings, report };
    previous = implementation.files;
  }
  throw new Error(`${requirement}: still failing after ${max} attempts: ${reasons.join(', ')}`);
}

test('every sample runs through the agents: the CSV one needs the fix loop, the others pass at once', async () => {
  const csv = await runSample('Build a small CSV parser with tests.', 't-csv');
  assert.equal([csv.analysis.complexity, csv.analysis.kind, csv.iterations, csv.reasons], ['complex', 'code', 2, ['tests-failed']]);
  assert.ok(csv.plan?.includes('state machine'));
  assert.equal(csv.written, ['t-csv/src/csv.js', 't-csv/test/csv.test.js']);
  const fizz = await runSample('  write a FizzBuzz module with tests ', 't-fizz');
  assert.equal([fizz.analysis.complexity, fizz.analysis.kind, fizz.iterations, fizz.plan], ['simple', 'code', 1, null]);
  const chart = await runSample('Draw an SVG bar chart of monthly sales', 't-chart');
  assert.equal([chart.analysis.complexity, chart.analysis.kind, chart.iterations], ['complex', 'graphic', 1]);
  assert.ok(chart.written.includes('t-chart/src/barChart.js'));
  assert.equal((await workspace.listArchive()).map((a) => a.taskId), ['t-chart', 't-csv', 't-fizz']);
  assert.ok(supervisor.agents().every((a) => a.status === 'ready' && a.restarts === 0));
});

test.after(async () => {
  supervisor.stop();
  bus.close();
  await sandbox.close();
  rmSync(base, { recursive: true, force: true });
});

test.run();
