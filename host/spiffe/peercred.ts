/**
 * Credentials of the process at the other end of an accepted UNIX socket (Linux).
 *
 * The Workload Endpoint must identify callers without any secret (SPIFFE Workload Endpoint §5),
 * so the kernel's record of the peer is the root of workload attestation. Two ways, best first:
 *
 *  1. `native`: getsockopt(SO_PEERCRED) through the small Node-API addon in ./native (built by
 *     `node-gyp rebuild` in that folder). The kernel stores pid/uid/gid at connect(2) time, so the
 *     answer cannot be confused by fd passing or by other processes sharing the socket later.
 *  2. `ss`: when the addon is not built, iproute2's `ss -xpn` (sock_diag netlink) maps our end's
 *     inode (from /proc/self/fd/<fd>) to the peer's inode and the process holding it, then reads
 *     uid/gid from /proc/<pid>/status. Weaker: it describes who holds the peer socket NOW, it
 *     needs permission to see that process, and a socket shared by several processes (fork
 *     after connect) is ambiguous — we refuse that case rather than guess.
 *
 * Neither path reads anything the caller controls, so a workload cannot claim another uid.
 */
import { execFile } from 'node:child_process';
import { readFile, readlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { promisify } from 'node:util';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

export type PeerCredMethod = 'native' | 'ss';

type NativeFn = (fd: number) => PeerCredentials;

let native: NativeFn | null | undefined;

function loadNative(): NativeFn | null {
  if (native !== undefined) return native;
  native = null;
  if (process.platform !== 'linux') return native;
  const require = createRequire(import.meta.url);
  // From host/spiffe/*.ts (sources) or dist/host/spiffe/*.js (compiled).
  for (const rel of ['./native/build/Release/peercred.node', '../../../host/spiffe/native/build/Release/peercred.node']) {
    try {
      native = (require(rel) as { peercred: NativeFn }).peercred;
      break;
    } catch {
      /* not built here */
    }
  }
  return native;
}

/** Which method `peerCredentials` will use (tests print it; the ready line does not). */
export function peerCredMethod(): PeerCredMethod {
  return loadNative() ? 'native' : 'ss';
}

/** The accepted socket's file descriptor. Node keeps it on the (internal, long-stable) handle. */
function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no file descriptor');
  return fd;
}

const execFileP = promisify(execFile);

/** Parses `ss -xpn` lines into local inode -> { peer inode, pids }. */
export function parseSsUnix(out: string): Map<number, { peer: number; pids: number[] }> {
  const map = new Map<number, { peer: number; pids: number[] }>();
  for (const line of out.split('\n')) {
    // u_str ESTAB 0 0 /path/sock 12345 * 12346 users:(("node",pid=42,fd=7))
    const m = /^u_(?:str|seq)\s+\S+\s+\d+\s+\d+\s+(?:\S+\s+)?(\d+)\s+\S+\s+(\d+)(.*)$/.exec(line.trim());
    if (!m) continue;
    const pids = [...m[3]!.matchAll(/pid=(\d+)/g)].map((x) => Number(x[1]));
    map.set(Number(m[1]), { peer: Number(m[2]), pids: [...new Set(pids)] });
  }
  return map;
}

async function viaSs(fd: number): Promise<PeerCredentials> {
  const link = await readlink(`/proc/self/fd/${fd}`);
  const m = /^socket:\[(\d+)\]$/.exec(link);
  if (!m) throw new Error('fd is not a socket');
  const local = Number(m[1]);
  const { stdout } = await execFileP('ss', ['-xpnH'], { maxBuffer: 16 << 20 });
  const table = parseSsUnix(stdout);
  const peer = table.get(local)?.peer;
  if (!peer) throw new Error('peer socket not found');
  const pids = table.get(peer)?.pids ?? [];
  if (pids.length !== 1) throw new Error(pids.length === 0 ? 'peer process not visible' : 'peer socket is shared by several processes');
  const pid = pids[0]!;
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  // "Uid:\treal\teffective\tsaved\tfs" — SO_PEERCRED reports the effective ids; so do we.
  const uid = /^Uid:\s+\d+\s+(\d+)/m.exec(status);
  const gid = /^Gid:\s+\d+\s+(\d+)/m.exec(status);
  if (!uid || !gid) throw new Error('cannot read peer ids');
  return { pid, uid: Number(uid[1]), gid: Number(gid[1]) };
}

/** Credentials of the peer of an accepted UNIX socket; rejects when they cannot be established. */
export async function peerCredentials(socket: Socket, method: PeerCredMethod = peerCredMethod()): Promise<PeerCredentials> {
  const fd = socketFd(socket);
  if (method === 'native') {
    const fn = loadNative();
    if (!fn) throw new Error('native peercred addon is not built (run node-gyp rebuild in host/spiffe/native)');
    return fn(fd);
  }
  return viaSs(fd);
}

/** Workload selectors for a peer (selectors.ts): uid, gid and, when readable, the executable. */
export async function unixSelectors(creds: PeerCredentials): Promise<string[]> {
  const out = [`unix:uid:${creds.uid}`, `unix:gid:${creds.gid}`];
  try {
    // Readable for processes of the same user (or with CAP_SYS_PTRACE); skipped otherwise, so an
    // entry requiring unix:path simply does not match.
    const exe = await readlink(`/proc/${creds.pid}/exe`);
    if (exe.startsWith('/') && !exe.endsWith(' (deleted)')) out.push(`unix:path:${exe}`);
  } catch {
    /* not visible */
  }
  return out;
}
