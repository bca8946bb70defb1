import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ErrorCode, RuntimeError } from '../../runtime/protocol/mod.ts';
import { createWorkspace, type Workspace } from '../../runtime/workspace/mod.ts';

const dirs: string[] = [];
function setup(): { ws: Workspace; base: string } {
  const base = mkdtempSync(join(tmpdir(), 'orch-ws-'));
  dirs.push(base);
  return { ws: createWorkspace({ root: join(base, 'workspace'), archiveRoot: join(base, 'archive') }), base };
}

/** Every entry under `dir` (files, folders, links), '/'-separated, sorted: what is really on disk. */
function onDisk(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const stat = lstatSync(join(dir, name));
    if (stat.isDirectory()) out.push(`${rel}/`, ...onDisk(join(dir, name), rel));
    else out.push(rel);
  }
  return out;
}

function expectCode(error: unknown, code: string, ...fragments: string[]): void {
  assert.instance(error, RuntimeError, String(error));
  const e = error as RuntimeError;
  assert.is(e.code, code, e.message);
  for (const fragment of fragments) assert.ok(e.message.includes(fragment), `"${e.message}" should mention ${fragment}`);
}

async function rejects(promise: Promise<unknown>, code: string, ...fragments: string[]): Promise<void> {
  try {
    await promise;
  } catch (error) {
    expectCode(error, code, ...fragments);
    return;
  }
  assert.unreachable(`expected a ${code} error`);
}

function throws(fn: () => unknown, code: string, ...fragments: string[]): void {
  try {
    fn();
  } catch (error) {
    expectCode(error, code, ...fragments);
    return;
  }
  assert.unreachable(`expected a ${code} error`);
}

/** How messages quote a path or id: JSON, with everything outside printable ASCII as \uXXXX. */
function quoted(text: string): string {
  return JSON.stringify(text).replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const FILES = [
  { path: 'src/index.js', content: 'export const answer = 42;\n' },
  { path: 'src/lib/util.js', content: 'export function id(x) { return x; }\n' },
  { path: 'test/index.test.js', content: 'import "../src/index.js";\n' },
  { path: 'README.md', content: '# héllo ✓\n' },
];

test('writes nested files, then lists and reads them', async () => {
  const { ws, base } = setup();
  assert.is(ws.root, join(base, 'workspace'));
  assert.is(ws.taskDir('t1'), join(base, 'workspace', 't1'));
  const written = await ws.writeFiles('t1', FILES);
  assert.equal(written, ['t1/src/index.js', 't1/src/lib/util.js', 't1/test/index.test.js', 't1/README.md']);
  const listed = await ws.listFiles('t1');
  assert.equal(listed.map((f) => f.path), ['t1/README.md', 't1/src/index.js', 't1/src/lib/util.js', 't1/test/index.test.js']);
  assert.is(listed[0].size, new TextEncoder().encode(FILES[3].content).length);
  assert.ok(listed.every((f) => f.mtimeMs > 0));
  assert.is(await ws.readFile('t1/README.md'), '# héllo ✓\n');
  assert.is(readFileSync(ws.resolve('t1', 'src/lib/util.js'), 'utf8'), FILES[1].content);

  await ws.writeFiles('t2', [{ path: 'a.js', content: '' }]);
  assert.equal((await ws.listFiles()).map((f) => f.path), [...listed.map((f) => f.path), 't2/a.js']);
  assert.equal(await ws.listFiles('never-written'), []);
  await rejects(ws.readFile('t1/missing.js'), ErrorCode.NotFound, 't1/missing.js');
  await rejects(ws.readFile('t1/src'), ErrorCode.NotFound, 'folder');
  await rejects(ws.readFile('README.md'), ErrorCode.Path, 'README.md', 'task id');
  await rejects(ws.readFile('t1/../t2/a.js'), ErrorCode.Path, '../t2/a.js');
});

test('rewriting the same files is idempotent and leaves no temp files', async () => {
  const { ws } = setup();
  await ws.writeFiles('t1', FILES);
  const first = onDisk(ws.root);
  // A crash between open and rename leaves a temp file; the next write of the task removes it.
  writeFileSync(join(ws.taskDir('t1'), 'src', '.index.js.0123456789ab.tmp'), 'partial');
  await ws.writeFiles('t1', FILES);
  await ws.writeFiles('t1', FILES);
  assert.equal(onDisk(ws.root), first);
  assert.ok(!first.some((p) => p.endsWith('.tmp')), first.join());
  await ws.writeFiles('t1', [{ path: 'src/index.js', content: 'changed' }]);
  assert.is(await ws.readFile('t1/src/index.js'), 'changed');
  assert.equal(onDisk(ws.root), first, 'content replaced in place, no extra files');
});

test('replaceFiles leaves exactly the new batch: an earlier attempt\'s files, folders and links go, nothing outside is touched', async () => {
  const { ws, base } = setup();
  await ws.writeFiles('t1', [
    { path: 'src/calc.js', content: 'v1' },
    { path: 'src/format.js', content: 'old' },
    { path: 'test/format.test.js', content: 'old test' },
    { path: 'lib/deep/util.js', content: 'old util' },
  ]);
  writeFileSync(join(ws.taskDir('t1'), 'src', '.calc.js.0123456789ab.tmp'), 'partial');
  mkdirSync(join(base, 'outside'), { recursive: true });
  writeFileSync(join(base, 'outside', 'keep.txt'), 'outside');
  symlinkSync(join(base, 'outside'), join(ws.taskDir('t1'), 'planted'));
  await ws.writeFiles('t2', [{ path: 'src/other.js', content: 'other task' }]);
  const written = await ws.replaceFiles('t1', [
    { path: 'src/calc.js', content: 'v2' },
    { path: 'test/calc.test.js', content: 'new test' },
  ]);
  assert.equal(written, ['t1/src/calc.js', 't1/test/calc.test.js']);
  assert.equal((await ws.listFiles('t1')).map((f) => f.path), ['t1/src/calc.js', 't1/test/calc.test.js']);
  assert.equal(readdirSync(ws.taskDir('t1')).sort(), ['src', 'test'], 'the emptied lib/ and the link are gone');
  assert.equal(readdirSync(join(ws.taskDir('t1'), 'src')), ['calc.js'], 'no temp file left');
  assert.is(await ws.readFile('t1/src/calc.js'), 'v2');
  assert.is(readFileSync(join(base, 'outside', 'keep.txt'), 'utf8'), 'outside', 'the link was removed, not followed');
  assert.is(await ws.readFile('t2/src/other.js'), 'other task', 'other tasks untouched');
  // Again with the same batch (a resumed integration): converges, nothing changes.
  await ws.replaceFiles('t1', [{ path: 'src/calc.js', content: 'v2' }, { path: 'test/calc.test.js', content: 'new test' }]);
  assert.equal((await ws.listFiles('t1')).map((f) => f.path), ['t1/src/calc.js', 't1/test/calc.test.js']);
});

test('concurrent writes to one task both land', async () => {
  const { ws } = setup();
  await Promise.all([ws.writeFiles('t1', FILES.slice(0, 2)), ws.writeFiles('t1', FILES.slice(2))]);
  assert.is((await ws.listFiles('t1')).length, 4);
  assert.ok(!onDisk(ws.root).some((p) => p.endsWith('.tmp')));
});

test('unsafe paths are refused, named, and nothing is written', async () => {
  const { ws, base } = setup();
  const bad = ['../x', '/etc/passwd', 'a/../../b', 'a\\b', 'nul', '', 'node_modules/evil.js', 'src/.git/config', '.env.local', '.npmrc'];
  for (const path of bad) {
    await rejects(ws.writeFiles('t1', [{ path: 'ok.js', content: 'fine' }, { path, content: 'bad' }]), ErrorCode.Path, JSON.stringify(path), 'nothing was written');
    throws(() => ws.resolve('t1', path), ErrorCode.Path, JSON.stringify(path));
  }
  await rejects(ws.writeFiles('t1', [{ path: 'manifest.json', content: '{}' }]), ErrorCode.Path, 'manifest.json', 'reserved');
  await rejects(ws.writeFiles('t1', [{ path: 'a.js', content: '1' }, { path: 'a.js', content: '2' }]), ErrorCode.Invalid, 'a.js', 'twice');
  await rejects(ws.writeFiles('t1', [{ path: 'A.js', content: '1' }, { path: 'a.js', content: '2' }]), ErrorCode.Invalid, 'a.js', 'case');
  await rejects(ws.writeFiles('t1', [{ path: 'a', content: '1' }, { path: 'a/b.js', content: '2' }]), ErrorCode.Invalid, '"a"', 'a/b.js');
  assert.equal(onDisk(base), [], 'neither the workspace nor anything beside it was created');
});

test('symbolic links under the root are never followed', async () => {
  const { ws, base } = setup();
  const outside = join(base, 'outside');
  mkdirSync(outside);
  await ws.writeFiles('t1', [{ path: 'keep.js', content: 'kept' }]);
  symlinkSync(outside, join(ws.taskDir('t1'), 'link'));
  await rejects(ws.writeFiles('t1', [{ path: 'ok.js', content: 'x' }, { path: 'link/evil.js', content: 'x' }]), ErrorCode.Path, 't1/link/evil.js', 'symbolic link');
  throws(() => ws.resolve('t1', 'link/evil.js'), ErrorCode.Path, '"t1/link"');
  await rejects(ws.readFile('t1/link/evil.js'), ErrorCode.Path, 'symbolic link');
  assert.equal(readdirSync(outside), [], 'nothing written outside');
  assert.ok(!existsSync(join(ws.taskDir('t1'), 'ok.js')), 'the good file of the batch was not written either');
  assert.equal((await ws.listFiles('t1')).map((f) => f.path), ['t1/keep.js'], 'listing skips the link');
  await rejects(ws.archive('t1', {}), ErrorCode.Path, 'link');

  // A task folder that is itself a link is refused as well.
  symlinkSync(outside, join(ws.root, 't2'));
  await rejects(ws.writeFiles('t2', [{ path: 'a.js', content: 'x' }]), ErrorCode.Path, 'symbolic link');
  await rejects(ws.listFiles('t2'), ErrorCode.Path, 'symbolic link');
  assert.equal(readdirSync(outside), []);
});

test('a file where a folder is needed, or a folder where a file goes, is refused', async () => {
  const { ws } = setup();
  await ws.writeFiles('t1', [{ path: 'a', content: 'file' }, { path: 'dir/b.js', content: 'b' }]);
  await rejects(ws.writeFiles('t1', [{ path: 'a/b.js', content: 'x' }]), ErrorCode.Path, '"t1/a"', 'file');
  await rejects(ws.writeFiles('t1', [{ path: 'dir', content: 'x' }]), ErrorCode.Path, 'dir', 'folder');
});

test('bad task ids are refused', async () => {
  const { ws, base } = setup();
  for (const taskId of ['', '..', 'a/b', 'a b', 'x'.repeat(65), 'é']) {
    throws(() => ws.taskDir(taskId), ErrorCode.Path, quoted(taskId), "'-' or '_'");
    throws(() => ws.resolve(taskId, 'a.js'), ErrorCode.Path, quoted(taskId));
    await rejects(ws.writeFiles(taskId, [{ path: 'a.js', content: '' }]), ErrorCode.Path, quoted(taskId));
    await rejects(ws.archive(taskId, {}), ErrorCode.Path, quoted(taskId));
  }
  assert.ok(ws.taskDir('x'.repeat(64)).endsWith('x'.repeat(64)));
  assert.equal(onDisk(base), []);
});

test('archive copies files and the manifest, is idempotent, and lists', async () => {
  const { ws } = setup();
  await ws.writeFiles('t1', FILES);
  const manifest = { requirement: 'fizzbuzz', score: 0.9, files: FILES.map((f) => f.path) };
  const dir = await ws.archive('t1', manifest);
  assert.is(dir, join(ws.archiveRoot, 't1'));
  const first = onDisk(ws.archiveRoot);
  assert.equal(first, ['t1/', 't1/README.md', 't1/manifest.json', 't1/src/', 't1/src/index.js', 't1/src/lib/', 't1/src/lib/util.js', 't1/test/', 't1/test/index.test.js']);
  assert.equal(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')), manifest);
  assert.is(readFileSync(join(dir, 'src/index.js'), 'utf8'), FILES[0].content);

  assert.is(await ws.archive('t1', manifest), dir);
  assert.equal(onDisk(ws.archiveRoot), first, 'a second archive gives the same tree, no leftovers');

  await ws.archive('t0', { empty: true });
  const entries = await ws.listArchive();
  assert.equal(entries.map((e) => e.taskId), ['t0', 't1']);
  assert.equal(entries[0].files, []);
  assert.equal(entries[1].files, ['README.md', 'src/index.js', 'src/lib/util.js', 'test/index.test.js']);
  assert.equal(entries[1].manifest, manifest);
  assert.ok(entries[1].archivedAt > 0);

  // Re-archiving mirrors the workspace as it is now: a removed file leaves the archive too.
  rmSync(join(ws.taskDir('t1'), 'README.md'));
  await ws.archive('t1', { v: 2 });
  const again = (await ws.listArchive()).find((e) => e.taskId === 't1');
  assert.equal(again?.files, ['src/index.js', 'src/lib/util.js', 'test/index.test.js']);
  assert.equal(again?.manifest, { v: 2 });
  assert.ok(!readdirSync(ws.archiveRoot).some((name) => name.startsWith('.')), 'no staging folders left');
});

test('a crash mid-archive leaves nothing that shows up, and the next archive cleans it', async () => {
  const { ws } = setup();
  await ws.writeFiles('t1', [{ path: 'a.js', content: 'a' }]);
  mkdirSync(join(ws.archiveRoot, '.t1.0123456789ab.tmp'), { recursive: true });
  assert.equal(await ws.listArchive(), []);
  await ws.archive('t1', null);
  assert.equal(readdirSync(ws.archiveRoot), ['t1']);
  assert.equal((await ws.listArchive())[0].manifest, null);
});

test.after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test.run();
