// @serial
// Every command line the docs show, run as written: each `runtime …` or `npx runtime …` line in a code
// block of README.md and docs/*.md (synopsis lines with [options] and <placeholders> left out), in
// document order, through a shell, from the repository root. `npx runtime` runs what npm installed;
// `runtime` runs with node_modules/.bin on PATH, as after `npm link`. None may answer "command not
// found" (127), crash (a stack trace, a signal it did not get from us), or fail to parse its own command
// line (exit 2). Exit 1 is an answer (no such task, no server, a failed task); a command still running
// after the time limit (a foreground server, logs --follow) is stopped and passes. Data goes to a temp
// dir (ORCHESTRATOR_DATA_DIR; /tmp/orch in an example becomes a folder of it); the demo transcripts
// answer, no model is called; every server started here is stopped at the end.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT, cleanEnv, tempDir } from './_run.ts';

const LIMIT_MS = 12_000;

interface Documented {
  file: string;
  line: string;
}

/** The runnable command lines of the docs' code blocks, in order. */
function documented(): Documented[] {
  const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];
  const found: Documented[] = [];
  for (const file of files) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const block of text.matchAll(/```\w*\n([\s\S]*?)```/g)) {
      for (const raw of block[1].split('\n')) {
        const line = raw.trim().replace(/\s+#\s.*$/, '');
        if (!/^([A-Z_]+=\S+ )*(npx )?runtime( |$)/.test(line)) continue;
        // A synopsis or a heading, not a command: [options], <placeholders>, "a|b" choices, "runtime — …".
        if (/\[|<|—|\w\|\w/.test(line)) continue;
        found.push({ file, line });
      }
    }
  }
  return found;
}

/** `line` with the example paths moved into `dir`. */
function local(line: string, dir: string): string {
  return line.replaceAll('/tmp/orch', join(dir, 'orch'));
}

/** Only the `runtime` parts of a line: a pipe to jq or a following tar is the reader's tool, not ours. */
function ours(line: string): string {
  return line
    .split(/\s+(?:\|\||&&|\|)\s+/)
    .filter((part) => /^([A-Z_]+=\S+ )*(npx )?runtime( |$)/.test(part))
    .join(' && ');
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  output: string;
}

function run(command: string, env: Record<string, string>): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {}
    }, LIMIT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, output });
    });
  });
}

test('every runtime and npx runtime line of README.md and docs/*.md runs: no 127, no crash, no usage error', async () => {
  const lines = documented();
  assert.ok(lines.length >= 40, `found ${lines.length} documented command lines`);
  assert.ok(lines.some((l) => l.line.startsWith('npx runtime ')), 'the README shows npx runtime');
  const dir = tempDir('orch-cli-documented-');
  // What `npm link` makes: a `runtime` on PATH that is this checkout's bin.js. npx finds the package's
  // own bin by itself (and never asks the network: npm_config_yes=false).
  const linked = join(dir, 'bin');
  mkdirSync(linked);
  symlinkSync(BIN, join(linked, 'runtime'));
  const env = cleanEnv({
    ORCHESTRATOR_DATA_DIR: join(dir, 'data'),
    ORCHESTRATOR_PORT: '0',
    PATH: `${linked}:${process.env.PATH ?? ''}`,
    npm_config_yes: 'false',
    npm_config_update_notifier: 'false',
  });
  const failures: string[] = [];
  // Commands run from the repository root; what they leave there (runtime diagnostics writes its bundle
  // to the working directory) is removed, and anything else new there fails the test.
  const before = new Set(readdirSync(ROOT));
  try {
    for (const { file, line } of lines) {
      const command = local(ours(line), dir);
      const outcome = await run(command, env);
      const crashed = /\n\s+at .+:\d+:\d+\)?\n|SyntaxError|TypeError|ReferenceError|ERR_MODULE_NOT_FOUND/.test(outcome.output);
      // 127 is also what `runtime launch` answers when the client it launches (claude, codex) is not
      // installed, with its own message; only the shell's or npx's "not found" is ours to fail.
      const clientMissing = /runtime launch: (Claude Code|Codex CLI) not found: .* install it with/.test(outcome.output);
      const bad =
        outcome.code === 127 && !clientMissing ? 'command not found (127)'
        : outcome.code === 2 ? 'usage error (2)'
        : outcome.signal && !outcome.timedOut ? `killed by ${outcome.signal}`
        : crashed ? 'crashed'
        : null;
      if (bad) failures.push(`${file}: ${line}\n  → ${bad}: ${outcome.output.trim().split('\n').slice(-4).join('\n    ')}`);
    }
  } finally {
    // Whatever the lines started (daemons of both data dirs, a server a submit started) is stopped.
    for (const dataDir of [join(dir, 'data'), join(dir, 'orch')]) {
      await run(`node ${BIN} stop --timeout 5 --data-dir ${dataDir}`, env);
    }
    rmSync(dir, { recursive: true, force: true });
    for (const name of readdirSync(ROOT)) {
      if (before.has(name)) continue;
      if (/^orchestrator-diagnostics-.*\.tar\.gz$/.test(name)) rmSync(join(ROOT, name));
      else failures.push(`a documented command left ${name} in the repository root`);
    }
  }
  assert.equal(failures, [], `${failures.length} of ${lines.length} documented command lines failed:\n${failures.join('\n')}`);
});

test.run();
