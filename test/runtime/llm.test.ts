import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, RuntimeError } from '../../runtime/protocol/mod.ts';
import type { LlmRequest } from '../../runtime/plugin/mod.ts';
import {
  createDemoProvider,
  createFunctionProvider,
  createTranscriptProvider,
  demoSamples,
  loadTranscripts,
  normaliseRequirement,
} from '../../runtime/llm/mod.ts';
import type { Transcript } from '../../runtime/llm/mod.ts';
import { simulatedClock } from '../../runtime/bus/mod.ts';
import { rejects } from '../helpers/errors.ts';

const dirs: string[] = [];
function folder(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'orch-llm-'));
  dirs.push(dir);
  for (const [name, value] of Object.entries(files)) {
    writeFileSync(join(dir, name), typeof value === 'string' ? value : JSON.stringify(value));
  }
  return dir;
}

function throws(fn: () => unknown, code: string, ...fragments: string[]): void {
  try {
    fn();
  } catch (error) {
    assert.instance(error, RuntimeError, String(error));
    const e = error as RuntimeError;
    assert.is(e.code, code, e.message);
    for (const fragment of fragments) assert.ok(e.message.includes(fragment), `"${e.message}" should mention ${fragment}`);
    return;
  }
  assert.unreachable('expected a throw');
}

const fizz: Transcript = {
  id: 'fizz',
  title: 'Fizz',
  requirement: 'Write a fizzbuzz module with tests.',
  turns: { enhancer: ['spec'], implementer: ['first', 'second', 'third'] },
};
const other: Transcript = { id: 'other', title: 'Other', requirement: 'Something else', turns: { enhancer: ['other spec'] } };

function request(role: string, requirement: string | undefined, attempt?: number): LlmRequest {
  return { role, system: 's', messages: [{ role: 'user', content: 'u' }], meta: { requirement, attempt } };
}

test('normaliseRequirement trims, lower-cases, collapses whitespace and drops a trailing dot', () => {
  assert.is(normaliseRequirement('  Write a   FizzBuzz\n module.  '), 'write a fizzbuzz module');
  assert.is(normaliseRequirement('Build it...'), 'build it');
  assert.is(normaliseRequirement('v1.2 parser'), 'v1.2 parser');
});

test('the transcript provider matches the requirement loosely and answers per role', async () => {
  const llm = createTranscriptProvider({ transcripts: [fizz, other], label: 'test' });
  const answer = await llm.complete(request('enhancer', '  WRITE a fizzbuzz   module with tests '));
  assert.is(answer.text, 'spec');
  assert.is(answer.provider, 'test');
  assert.is(answer.model, 'test/fizz');
  assert.equal(answer.usage, { inputTokens: 0, outputTokens: 0 });
  assert.is(answer.demo, false);
  assert.is((await llm.complete(request('enhancer', 'something else.'))).text, 'other spec');
  assert.equal(llm.describe(), { name: 'test', demo: false, models: ['test/fizz', 'test/other'] });
});

test('attempt picks the turn and the last turn repeats when they run out', async () => {
  const llm = createTranscriptProvider({ transcripts: [fizz], label: 'test' });
  const texts = [];
  for (const attempt of [undefined, 0, 1, 2, 3, 9]) texts.push((await llm.complete(request('implementer', fizz.requirement, attempt))).text);
  assert.equal(texts, ['first', 'first', 'second', 'third', 'third', 'third']);
});

test('no matching transcript is E_LLM telling how to get out of demo mode', async () => {
  const demo = createTranscriptProvider({ transcripts: [fizz], label: 'demo' });
  await rejects(
    demo.complete(request('enhancer', 'Build a rocket')),
    ErrorCode.Llm,
    'demo mode has no transcript for this requirement; configure a provider (set ANTHROPIC_API_KEY or OPENAI_API_KEY) or submit one of the sample requirements listed at GET /api/demo',
  );
  const testing = createTranscriptProvider({ transcripts: [fizz], label: 'test' });
  await rejects(testing.complete(request('enhancer', undefined)), ErrorCode.Llm, 'the test transcripts have no transcript for this requirement');
});

test('a role without turns is E_LLM naming the transcript and the role', async () => {
  const llm = createTranscriptProvider({ transcripts: [fizz], label: 'test' });
  await rejects(llm.complete(request('analyst', fizz.requirement)), ErrorCode.Llm, '"fizz"', '"analyst"', 'enhancer, implementer');
});

test('delayMs waits on the clock before answering and ms reports it', async () => {
  const clock = simulatedClock(1000);
  const llm = createTranscriptProvider({ transcripts: [fizz], label: 'demo', delayMs: 250, clock });
  let settled = false;
  const pending = llm.complete(request('enhancer', fizz.requirement)).then((answer) => {
    settled = true;
    return answer;
  });
  await new Promise((resolve) => setImmediate(resolve));
  assert.is(settled, false);
  clock.advance(250);
  const answer = await pending;
  assert.is(answer.ms, 250);
  assert.is(answer.demo, true);
  throws(() => createTranscriptProvider({ transcripts: [], label: 'test', delayMs: -1 }), ErrorCode.Invalid, 'delayMs');
});

test('loadTranscripts reads every *.json file and ignores other files', () => {
  const dir = folder({ 'a.json': fizz, 'b.json': other, 'notes.txt': 'not a transcript' });
  assert.equal(
    loadTranscripts(dir).map((t) => t.id),
    ['fizz', 'other'],
  );
});

test('a bad transcript file is refused with the file and the field named', () => {
  const badTurns = folder({ 'broken.json': { ...fizz, turns: { enhancer: 'not a list' } } });
  throws(() => loadTranscripts(badTurns), ErrorCode.Invalid, join(badTurns, 'broken.json'), 'turns.enhancer');
  const badId = folder({ 'id.json': { ...fizz, id: 'Not Ok' } });
  throws(() => loadTranscripts(badId), ErrorCode.Invalid, 'id.json', 'id must be lower-case', '"Not Ok"');
  const missing = folder({ 'missing.json': { id: 'x', title: 't', turns: {} } });
  throws(() => loadTranscripts(missing), ErrorCode.Invalid, 'missing.json', 'requirement is required');
  const notJson = folder({ 'syntax.json': '{ "id": ' });
  throws(() => loadTranscripts(notJson), ErrorCode.Invalid, 'syntax.json', 'is not valid JSON');
  const twice = folder({ 'a.json': fizz, 'b.json': { ...fizz, id: 'fizz-2' } });
  throws(() => loadTranscripts(twice), ErrorCode.Invalid, 'b.json', 'already answered by', 'a.json');
  throws(() => loadTranscripts(join(badId, 'nope')), ErrorCode.NotFound, 'does not exist');
});

test('the demo provider answers the bundled samples and is labelled demo', async () => {
  const samples = demoSamples();
  assert.equal(
    samples.map((s) => s.id).sort(),
    ['csv-parser', 'fizzbuzz', 'svg-bar-chart'],
  );
  const llm = createDemoProvider();
  assert.is(llm.demo, true);
  for (const sample of samples) {
    const answer = await llm.complete(request('enhancer', sample.requirement));
    assert.ok(answer.text.length > 100, sample.id);
    assert.is(answer.model, `demo/${sample.id}`);
    assert.is(answer.demo, true);
  }
});

test('the function provider computes answers and turns a plain throw into E_LLM', async () => {
  const llm = createFunctionProvider('fake', (r) => `${r.role}:${r.meta?.attempt ?? 0}`);
  const answer = await llm.complete(request('analyst', 'x', 2));
  assert.is(answer.text, 'analyst:2');
  assert.is(answer.provider, 'fake');
  assert.is(answer.demo, false);
  assert.equal(llm.describe(), { name: 'fake', demo: false, models: ['fake/function'] });
  const broken = createFunctionProvider('broken', () => {
    throw new Error('socket hang up');
  });
  await rejects(broken.complete(request('analyst', 'x')), ErrorCode.Llm, 'provider broken', 'socket hang up');
  const coded = createFunctionProvider('coded', async () => {
    throw new RuntimeError(ErrorCode.Timeout, 'too slow');
  });
  await rejects(coded.complete(request('analyst', 'x')), ErrorCode.Timeout, 'too slow');
  const wrong = createFunctionProvider('wrong', () => 42 as unknown as string);
  await rejects(wrong.complete(request('analyst', 'x')), ErrorCode.Llm, 'must return a string');
});

test.after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test.run();
