// The runtime's text caps (runtime/protocol/limits.ts): cut text fits its byte budget with whole
// characters, ends with the sandbox's own marker, and says exactly how many bytes it dropped.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TEXT_LIMITS, boundFindings, cutText } from '../../runtime/protocol/mod.ts';
import { CUT_MARKER } from '../../sandbox/mod.ts';

const bytes = (text: string) => new TextEncoder().encode(text).length;

test('cutText keeps text that fits and cuts the rest within the budget, with the marker and the exact count', () => {
  assert.is(cutText('short', 10), 'short');
  assert.is(cutText('é'.repeat(5), 10), 'é'.repeat(5), 'exactly the budget');
  for (const [text, max] of [['M'.repeat(1e7), 4096], ['é'.repeat(5000), 100], ['😀'.repeat(3000), 2048], ['a😀'.repeat(100), 37]] as const) {
    const cut = cutText(text, max);
    assert.ok(bytes(cut) <= max, `${bytes(cut)} > ${max}`);
    const match = CUT_MARKER.exec(cut);
    assert.ok(match, `the sandbox's marker matches: ${cut.slice(-40)}`);
    const head = cut.slice(0, match!.index);
    assert.ok(text.startsWith(head), 'the head is the start of the text');
    assert.not.match(head, /[\uD800-\uDBFF]$/, 'no half surrogate pair');
    assert.is(Number(match![1]), bytes(text) - bytes(head), 'the count is the bytes dropped');
  }
});

test('boundFindings keeps strings, at most TEXT_LIMITS.findings, each cut, and counts the rest', () => {
  assert.equal(boundFindings('not a list'), []);
  const findings = boundFindings([...Array.from({ length: 30 }, (_, i) => `t${i}: failed`), 'x'.repeat(1e6)]);
  assert.is(findings.length, TEXT_LIMITS.findings + 1);
  assert.is(findings.at(-1), '… 11 more findings not kept');
  const long = boundFindings(['x'.repeat(1e6), 42]);
  assert.ok(bytes(long[0]) <= TEXT_LIMITS.finding && CUT_MARKER.test(long[0]));
  assert.is(long[1], '42');
});

test.run();
