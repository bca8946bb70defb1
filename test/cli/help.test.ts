// Every command's --help (run through the real binary) has a usage line and examples; docs/cli.md is
// exactly `runtime help --markdown`, and README's CLI section lists every usage line of every --help.
// Fast (~3 s).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMANDS } from '../../runtime/cli/_commands.ts';
import { ROOT, runtime, show } from './_run.ts';

const usageLines = (help: string) => help.split('Usage:\n')[1].split('\n\n')[0].split('\n').filter((l) => l.startsWith('  runtime '));

test('runtime --help lists every command; no command is an error (exit 2)', async () => {
  const help = await runtime(['--help']);
  assert.is(help.code, 0);
  for (const name of Object.keys(COMMANDS)) assert.match(help.stdout, new RegExp(`^  ${name} +\\S`, 'm'));
  const bare = await runtime([]);
  assert.is(bare.code, 2);
  assert.match(bare.stderr, 'Commands:');
});

test('every command has --help with a usage line and examples, and data commands take --json', async () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const cli = readme.slice(readme.indexOf('\n## CLI\n'), readme.indexOf('\n## ', readme.indexOf('\n## CLI\n') + 5));
  assert.ok(cli.length > 100, 'README has a "## CLI" section');
  const results = await Promise.all(Object.keys(COMMANDS).map(async (name) => [name, await runtime([name, '--help'])] as const));
  for (const [name, run] of results) {
    assert.is(run.code, 0, `${name} --help\n${show(run)}`);
    assert.match(run.stdout, `runtime ${name} — `);
    assert.match(run.stdout, /\nExamples:\n {2}\S/, `${name} --help has examples`);
    const usage = usageLines(run.stdout);
    assert.ok(usage.length >= 1, `${name} --help has a usage line`);
    for (const line of usage) assert.ok(cli.includes(line), `README's CLI section lists: ${line.trim()}`);
    if (name !== 'launch') assert.match(usage.join(' '), '--json', `${name} takes --json`);
  }
});

test('docs/cli.md is the current output of runtime help --markdown', async () => {
  const run = await runtime(['help', '--markdown']);
  assert.is(run.code, 0);
  assert.fixture(readFileSync(join(ROOT, 'docs/cli.md'), 'utf8'), run.stdout, 'regenerate: node runtime/cli/bin.js help --markdown > docs/cli.md');
});

test('a mistyped command, flag or action gets a "did you mean" (swapped letters count as one edit), and exit 2', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['stauts'], /^runtime: unknown command "stauts" \(did you mean 'status'\?\); the commands are: /],
    [['status', '--jsn'], /^runtime status: Unknown option '--jsn' \(did you mean '--json'\?\); see "runtime status --help"/],
    [['start', '--prot', '9'], /^runtime start: Unknown option '--prot' \(did you mean '--port'\?\)/],
    [['tasks', 'lst'], /^runtime tasks: unknown action "lst" \(did you mean 'list'\?\): use list, show ID/],
  ];
  for (const [args, expected] of cases) {
    const run = await runtime(args);
    assert.is(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, expected);
  }
  const far = await runtime(['frobnicate']);
  assert.is(far.code, 2);
  assert.not.match(far.stderr, /did you mean/, 'no guess when nothing is close');
});

test.run();
