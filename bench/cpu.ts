/**
 * CPU time spent by processes, from /proc (Linux): how the machine's cores were used during a
 * measurement, so a shortfall can be explained (the server's own work beyond argon2id, the load
 * clients, or other programs on the machine).
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's time fields: 100 on every mainstream Linux build. */
const TICKS_PER_SECOND = 100;

/** User + system CPU milliseconds of a process and all its threads, or null off Linux. */
export function processCpuMs(pid: number): number | null {
  return statCpuMs(`/proc/${pid}/stat`);
}

/** The same for a process's main thread alone: in Node, the event loop. */
export function mainThreadCpuMs(pid: number): number | null {
  return statCpuMs(`/proc/${pid}/task/${pid}/stat`);
}

function statCpuMs(path: string): number | null {
  try {
    const stat = readFileSync(path, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/**
 * Busy and total CPU milliseconds of the whole machine (all cores), and the time a hypervisor gave
 * this machine's cores to other machines (steal), or null off Linux.
 */
export function machineCpuMs(): { busy: number; total: number; steal: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is inside user.
    const values = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = values.reduce((a, b) => a + b, 0);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    const steal = values[7] ?? 0;
    const ms = (ticks: number) => (ticks * 1000) / TICKS_PER_SECOND;
    return { busy: ms(total - idle - steal), total: ms(total), steal: ms(steal) };
  } catch {
    return null;
  }
}

export interface CpuWindow {
  /** CPU ms the server used (all its threads, argon2id included). */
  serverMs: number | null;
  /** Of which its event loop (main thread): HTTP, validation, JSON, starting file operations. */
  serverEventLoopMs: number | null;
  /** CPU ms this benchmark process (the load clients) used. */
  clientMs: number;
  /** CPU ms every other process on the machine used. */
  othersMs: number | null;
  /** CPU ms the hypervisor took from this machine's cores for others (a virtual machine's "steal"). */
  stealMs: number | null;
  /** Wall-clock ms the window lasted. */
  wallMs: number;
}

/** Starts a CPU accounting window; call the returned function to close it. */
export function cpuWindow(serverPid: number): () => CpuWindow {
  const started = performance.now();
  const server0 = processCpuMs(serverPid);
  const loop0 = mainThreadCpuMs(serverPid);
  const client0 = process.cpuUsage();
  const machine0 = machineCpuMs();
  return () => {
    const server1 = processCpuMs(serverPid);
    const loop1 = mainThreadCpuMs(serverPid);
    const client = process.cpuUsage(client0);
    const machine1 = machineCpuMs();
    const serverMs = server0 === null || server1 === null ? null : server1 - server0;
    const clientMs = (client.user + client.system) / 1000;
    const busy = machine0 && machine1 ? machine1.busy - machine0.busy : null;
    return {
      serverMs,
      serverEventLoopMs: loop0 === null || loop1 === null ? null : loop1 - loop0,
      clientMs,
      othersMs: busy === null || serverMs === null ? null : Math.max(0, busy - serverMs - clientMs),
      stealMs: machine0 && machine1 ? machine1.steal - machine0.steal : null,
      wallMs: performance.now() - started,
    };
  };
}
