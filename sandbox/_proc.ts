/**
 * What the parent pool reads of a worker process from Linux /proc: its resident memory and the CPU
 * time it used. Both answer undefined where /proc is not there (macOS): the pool then relies on the
 * engine's own limits and its wall-clock backstop.
 */
import { readFileSync } from 'node:fs';

function procFile(pid: number | undefined, name: string): string | undefined {
  if (pid === undefined) return undefined;
  try {
    return readFileSync(`/proc/${pid}/${name}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** The resident memory of a process in MB. */
export function residentMb(pid: number | undefined): number | undefined {
  const statm = procFile(pid, 'statm');
  if (statm === undefined) return undefined;
  return (Number(statm.split(' ')[1]) * 4096) / (1024 * 1024);
}

/** The CPU milliseconds a process has used (user + system, at the kernel's 100 ticks per second). */
export function cpuMsOf(pid: number | undefined): number | undefined {
  const stat = procFile(pid, 'stat');
  if (stat === undefined) return undefined;
  // The command name (field 2) may hold spaces: the fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks * 10 : undefined;
}
