// The rejections tests expect: the RuntimeError a promise rejects with (failing the test when it does
// not reject, or rejects with something else), and the same checked for its code and message fragments.
import * as assert from 'uvu/assert';
import { RuntimeError } from '../../runtime/protocol/mod.ts';

/** The RuntimeError `promise` rejects with. */
export async function rejection(promise: Promise<unknown>): Promise<RuntimeError> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, RuntimeError, String(error));
    return error as RuntimeError;
  }
  assert.unreachable('expected a rejection');
  throw new Error('unreachable');
}

/** The RuntimeError `promise` rejects with, checked: its code is `code`, its message holds every fragment. */
export async function rejects(promise: Promise<unknown>, code: string, ...fragments: string[]): Promise<RuntimeError> {
  const e = await rejection(promise);
  assert.is(e.code, code, e.message);
  for (const fragment of fragments) assert.ok(e.message.includes(fragment), `"${e.message}" should mention ${fragment}`);
  return e;
}
