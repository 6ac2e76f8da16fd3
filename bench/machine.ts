import { readFile } from 'node:fs/promises';
import os from 'node:os';

/** The machine a benchmark ran on: printed with every result, since numbers mean nothing without it. */
export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly nodeVersion: string;
  /** 1-minute load average when the benchmark started and ended: other work on the machine skews every number */
  readonly loadAverage: { readonly start: number; readonly end?: number };
}

export async function describeMachine(): Promise<MachineInfo> {
  return {
    cpuModel: os.cpus()[0]?.model.trim() || 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${await distribution()} (${os.type()} ${os.release()}, ${os.arch()})`,
    nodeVersion: process.version,
    loadAverage: { start: currentLoad() },
  };
}

export function withEndLoad(machine: MachineInfo): MachineInfo {
  return { ...machine, loadAverage: { ...machine.loadAverage, end: currentLoad() } };
}

function currentLoad(): number {
  return Math.round(os.loadavg()[0]! * 100) / 100;
}

async function distribution(): Promise<string> {
  try {
    const release = await readFile('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(release)?.[1] ?? os.type();
  } catch {
    return os.type();
  }
}
