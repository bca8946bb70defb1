// One secret detector (runtime/protocol/secrets.ts) for the server's log, the gateway's upstream errors,
// config error messages and the CLI's bundle. Each of those used to catch a different subset; now each
// catches what any of them did: the cases below are the ones a place missed before it was folded in.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hideSecrets, mayBeSecret, redactText, secretsInConfigText, showValue } from '../../runtime/protocol/mod.ts';
import { scrubbingLog } from '../../runtime/server/console.ts';

const GITHUB = 'ghp_Zq3L9mXv7TbW2kYc8RfN4sHd6JpA1uEo5GiK';
const AWS = 'AKIAZ7Q2M4X9C6V1B3N8';

test('the server log scrubs key shapes it was not told about, and the values it was', () => {
  const lines: string[] = [];
  const log = scrubbingLog((_level, text) => lines.push(text), () => ['lcl-known-value', undefined]);
  log('warn', `plugin dump: GITHUB_TOKEN=${GITHUB} AWS=${AWS} auth=Bearer abcdefgh12345 local=lcl-known-value`);
  log('info', 'GET https://admin:hunter22@proxy.local/v1?api_key=zzzz9999&model=m');
  assert.equal(lines, [
    'plugin dump: GITHUB_TOKEN=[REDACTED] AWS=[REDACTED] auth=[REDACTED] local=[REDACTED]',
    'GET https://[REDACTED]@proxy.local/v1?api_key=[REDACTED]&model=m',
  ]);
});

test('bare values (the gateway keys) and named ones: longest first, short ones left alone', () => {
  const text = redactText('bad key abcd1234 (abcd1234xyz)', ['abcd1234', 'abcd1234xyz', 'ab']);
  assert.is(text, 'bad key [REDACTED] ([REDACTED])');
  assert.is(redactText('ab ab', ['ab']), 'ab ab', 'a value under 4 characters would match everywhere');
  assert.is(redactText('k=abcd1234', [['MY_KEY', 'abcd1234']]), 'k=[REDACTED MY_KEY]');
});

test('config error messages hide GitHub tokens and AWS key ids as they hide provider keys', () => {
  for (const value of [GITHUB, AWS, 'sk-proj-abcdefgh', 'Bearer ab"cdefghij', 'https://u:p@host']) {
    assert.ok(mayBeSecret('baseUrl', value), value);
  }
  assert.not.ok(mayBeSecret('model', 'claude-sonnet-4-5'));
  assert.equal(hideSecrets({ note: AWS, port: 8100 }), { note: '<hidden: 20 characters>', port: 8100 });
  assert.is(showValue(GITHUB), `"<hidden: ${GITHUB.length} characters>"`);
});

test('a key-like run inside a longer token of a config file is found (a pasted key next to a slash)', () => {
  const found = secretsInConfigText('{"baseUrl":"https://h/v1/Zq3L9mXv7TbW2kYc8RfN4s"}', 'orchestrator.config.json');
  assert.ok(found.some(([, value]) => value === 'Zq3L9mXv7TbW2kYc8RfN4s'), JSON.stringify(found));
});

test.run();
