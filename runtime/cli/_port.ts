/**
 * Who holds a TCP port, for the "port in use" message. Linux only: the listening socket's inode from
 * /proc/net/tcp and tcp6, then the process whose /proc/<pid>/fd links to `socket:[inode]`. Elsewhere,
 * or when the holder belongs to another user, it says so instead of guessing.
 * @module
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * A description of the process listening on `port`: `pid 123 (node runtime/cli/bin.js start)`, or
 * a sentence saying why it cannot be named.
 * @example portHolder(8100); // 'pid 4242 (node /app/runtime/cli/bin.js start)'
 */
export function portHolder(port: number): string {
  if (process.platform !== 'linux') return `the process could not be named on ${process.platform} (try: lsof -i :${port})`;
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // cols[1] local address "0100007F:1FA4", cols[3] state (0A = LISTEN), cols[9] inode
      if (cols.length < 10 || cols[3] !== '0A') continue;
      if (parseInt(cols[1].split(':')[1], 16) === port) inodes.add(cols[9]);
    }
  }
  if (!inodes.size) return `no listening socket for port ${port} is visible in /proc/net/tcp (another network namespace?)`;
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {}
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // another user's process
    }
    for (const fd of fds) {
      let target = '';
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match && inodes.has(match[1])) return `pid ${pid} (${commandLine(pid)})`;
    }
  }
  return `a process this user cannot inspect (socket inode ${[...inodes].join(', ')}; try: sudo ss -ltnp 'sport = :${port}')`;
}

function commandLine(pid: string): string {
  try {
    const text = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    return text.length > 120 ? `${text.slice(0, 117)}...` : text || '?';
  } catch {
    return '?';
  }
}
