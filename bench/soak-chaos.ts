// `npm run soak`: the crash-recovery soak. 100 SIGKILLs of the real server (the chaos engine of
// test/reliability/chaos.test.ts, which runs 20 in CI): during LLM calls at the fake upstream, sandbox
// runs, file writes and at random points, with tasks submitted, cancelled and retried in between; then
// 8 writer threads committing to one SQLite file at once. Prints its figures for docs/RELIABILITY.md and
// exits 1 if any promise broke (each broken one is printed with the task and the detail).
// Options: `npm run soak -- [--kills N] [--seed N] [--writers N] [--commits N]` (or CHAOS_SEED=N).
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openStore } from '../runtime/store/mod.ts';
import { tempDir } from '../test/helpers/server.ts';
import { concurrentWriters, describeRun, runChaos } from '../test/reliability/_chaos.ts';

const { values } = parseArgs({
  options: { kills: { type: 'string', default: '100' }, seed: { type: 'string' }, writers: { type: 'string', default: '8' }, commits: { type: 'string', default: '10000' } },
});
const kills = Number(values.kills);
const seed = Number(values.seed ?? process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
if (!Number.isInteger(kills) || kills < 1) throw new Error(`--kills is ${values.kills}: use a positive integer, e.g. --kills 100`);

console.log(`soak: ${kills} SIGKILLs, seed ${seed} (replay with --seed ${seed})`);
const result = await runChaos({ kills, seed, log: (line) => console.log(`  ${line}`) });
console.log('\ncrash recovery:');
for (const line of describeRun(result)) console.log(`  ${line}`);

const writers = Number(values.writers);
const commits = Number(values.commits);
const path = join(tempDir('orch-soak-sqlite-'), 'orchestrator.db');
openStore(path).close();
const { errors, ms } = await concurrentWriters(path, writers, commits);
const store = openStore(path);
const rows = (await store.listTasks()).length;
const integrity = await store.integrityCheck();
await store.close();
const busy = errors.filter((e) => /busy|locked/i.test(e)).length;
console.log('\nstore:');
console.log(`  ${writers} writers × ${commits} commits (task + event + snapshot, synchronous=FULL): ${busy} SQLITE_BUSY, ${errors.length} errors, ${writers * commits - rows} lost, integrity_check ${integrity}, ${ms} ms (${Math.round((writers * commits * 1000) / ms)} commits/s)`);

const broken = result.problems.length + errors.length + (rows === writers * commits ? 0 : 1) + (integrity === 'ok' ? 0 : 1);
console.log(`\n${broken ? `FAILED: ${broken} broken promise(s)` : 'every promise held'}`);
for (const line of result.problems) console.log(`  ${line}`);
process.exit(broken ? 1 : 0);
