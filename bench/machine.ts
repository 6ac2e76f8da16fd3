import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';

/** The machine a benchmark ran on: printed with every result, since numbers mean nothing without it. */
export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly nodeVersion: string;
  /** the SIMD extensions that decide our kernels' speed (avx2, fma, avx512f), from /proc/cpuinfo; absent without it */
  readonly cpuFlags?: readonly string[];
  /**
   * 1-minute load average when the benchmark started and ended. The end value counts the benchmark's own threads
   * too, so it cannot tell other work apart: otherCpuShare can.
   */
  readonly loadAverage: { readonly start: number; readonly end?: number };
  /**
   * Share of the machine's CPU time that went to anything but this benchmark (other processes, and time the
   * hypervisor gave to other guests) while it ran: 0 means it had the machine to itself. Absent without /proc.
   */
  readonly otherCpuShare?: number;
}

export async function describeMachine(): Promise<MachineInfo> {
  const cpuFlags = await simdFlags();
  return {
    cpuModel: os.cpus()[0]?.model.trim() || 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${await distribution()} (${os.type()} ${os.release()}, ${os.arch()})`,
    nodeVersion: process.version,
    ...(cpuFlags ? { cpuFlags } : {}),
    loadAverage: { start: currentLoad() },
  };
}

const SIMD_FLAGS = ['avx2', 'fma', 'avx512f'] as const;

async function simdFlags(): Promise<string[] | undefined> {
  try {
    const flags = /^flags\s*:\s*(.*)$/m.exec(await readFile('/proc/cpuinfo', 'utf8'))?.[1]?.split(/\s+/);
    return flags ? SIMD_FLAGS.filter((flag) => flags.includes(flag)) : undefined;
  } catch {
    return undefined;
  }
}

export function withEndLoad(machine: MachineInfo): MachineInfo {
  return { ...machine, loadAverage: { ...machine.loadAverage, end: currentLoad() } };
}

function currentLoad(): number {
  return Math.round(os.loadavg()[0]! * 100) / 100;
}

interface CpuTicks {
  /** every core's busy time plus steal */
  readonly machineUsed: number;
  readonly machineTotal: number;
  /** this process, its worker threads and every child it has waited for (PyTorch, `flambda run`) */
  readonly ours: number;
}

function readCpuTicks(): CpuTicks | undefined {
  try {
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = readFileSync('/proc/stat', 'utf8')
      .split('\n', 1)[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const self = readFileSync('/proc/self/stat', 'utf8');
    // Fields after the parenthesised command name start at field 3; utime, stime, cutime, cstime are fields 14–17.
    const fields = self.slice(self.lastIndexOf(')') + 2).split(' ').map(Number);
    const ours = fields.slice(11, 15).reduce((total, ticks) => total + ticks, 0);
    const machineUsed = user + nice + system + irq + softirq + steal;
    return { machineUsed, machineTotal: machineUsed + idle + iowait, ours };
  } catch {
    return undefined;
  }
}

/**
 * Starts measuring how much of the machine other work takes while the benchmark runs. A load average cannot say:
 * it counts the benchmark's own threads too. Children count once they have exited, so stop the meter after them.
 */
export function startCpuMeter(): { stop(): number | undefined } {
  const start = readCpuTicks();
  return {
    stop() {
      const end = readCpuTicks();
      if (!start || !end || end.machineTotal <= start.machineTotal) return undefined;
      const others = end.machineUsed - start.machineUsed - (end.ours - start.ours);
      const share = Math.min(1, Math.max(0, others / (end.machineTotal - start.machineTotal)));
      return Math.round(share * 1000) / 1000;
    },
  };
}

/** The machine info completed at the end of a run: end load average, and other work's share when measured. */
export function finishMachineInfo(machine: MachineInfo, otherCpuShare: number | undefined): MachineInfo {
  const ended = withEndLoad(machine);
  return otherCpuShare === undefined ? ended : { ...ended, otherCpuShare };
}

async function distribution(): Promise<string> {
  try {
    const release = await readFile('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(release)?.[1] ?? os.type();
  } catch {
    return os.type();
  }
}
