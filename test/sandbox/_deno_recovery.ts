// Run by recovery.test.ts under Deno (`deno run -A`): poisons the QuickJS worker with deeply
// nested JSON.parse, then runs a known-good validation and the probe, and prints one JSON line.
import { createSandbox } from '../../sandbox/mod.ts';
import type { Sandbox } from '../../sandbox/mod.ts';

const sandbox = createSandbox() as Sandbox & { workerPids(): number[] };
const knownGood = {
  files: { 'a.js': 'export const one = 1;\n', 'a.test.js': "import { one } from './a.js';\ntest('one', () => expect(one).toBe(1));\n" },
  entry: 'a.js',
  tests: ['a.test.js'],
};
await sandbox.validate(knownGood);
const [before] = sandbox.workerPids();
const poisoned = await sandbox.validate({ files: { 'a.js': "JSON.parse('['.repeat(1e5) + ']'.repeat(1e5));\n" }, entry: 'a.js', tests: [] });
const replaced = !sandbox.workerPids().includes(before);
const good = await sandbox.validate(knownGood);
const probe = await sandbox.probe();
await sandbox.close();
console.log(JSON.stringify({ driver: sandbox.driver, poisoned, replaced, good, probe }));
