/**
 * The multi-host lab (scripts/lab/), typed for the tests: one implementation,
 * shared with scripts/bench-ray.mjs and scripts/chaos-ray.mjs (plain .mjs, so
 * it lives there).
 */
import type { ChildProcess } from 'node:child_process';
import type { Redis } from 'ioredis';
import * as labImpl from '../../scripts/lab/lab.mjs';
import * as rayImpl from '../../scripts/lab/ray-lab.mjs';
import * as servicesImpl from '../../scripts/lab/services.mjs';

export interface Pod {
  name: string;
  proc: ChildProcess;
  /** Machine pid of the pod's init: the command itself. */
  initPid: number;
  logFile: string;
  tempDir?: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  pids(): number[];
  commands(): string[];
  signalInit(signal: NodeJS.Signals): void;
  kill(): Promise<void>;
}

export interface Host {
  name: string;
  ns: string;
  address: string;
  pids(): number[];
  commands(): string[];
  exec(argv: string[], opts?: { quiet?: boolean; input?: string }): string | null;
  spawn(name: string, argv: string[], opts?: { env?: NodeJS.ProcessEnv; logFile?: string }): Promise<Pod>;
  partition(): void;
  heal(): void;
  linkDown(): void;
  linkUp(): void;
  killAll(): void;
}

export interface Lab {
  id: string;
  prefix: string;
  gateway: string;
  workDir: string;
  hosts: Map<string, Host>;
  host(name: string): Host;
  close(): void;
}

export const createLab = labImpl.createLab as (opts: { hosts: string[]; keepWork?: boolean }) => Lab;
export const sweepLabs = labImpl.sweep as (opts?: { all?: boolean }) => string[];
export const LAB_REGISTRY: string = labImpl.REGISTRY;

export interface ProbeResult {
  value?: number;
  error?: string;
  lastError?: string | null;
  attempts?: number;
  go?: number;
  answerAt?: number;
  ready?: boolean;
  calls?: number;
  failed?: number;
  first?: number | null;
  last?: number | null;
  backwards?: Array<[number, number]>;
  longestGapMs?: number;
  /** tasks: tasks submitted; gaps over 1 s between two results ([from, to], epoch ms). */
  tasks?: number;
  gaps?: Array<[number, number]>;
  slowestMs?: number;
  /** workers: the worker node IDs ALIVE, and those that ran a task. */
  alive?: string[];
  ran?: string[];
}

export interface NodeTableEntry {
  id: string;
  ip: string;
  head: boolean;
  state: 'ALIVE' | 'DEAD';
  death: string;
}

export interface NodeTableWatch {
  /** Every change seen: the nodes, or the GCS's error; `at` in epoch ms. */
  changes: Array<{ at: number; nodes?: NodeTableEntry[]; error?: string }>;
  latest(): NodeTableEntry[] | null;
  stop(): void;
}

export interface Probe {
  proc: ChildProcess;
  next(): Promise<ProbeResult>;
  go(): void;
  stop(): void;
  kill(): void;
}

export interface OrchestratorEvent {
  msg: string;
  time?: string;
  [k: string]: unknown;
}

export interface RayLab {
  lab: Lab;
  redis: { address: string; host: Host; port: number; restartEmpty(): Promise<void>; pause(): void; resume(): void };
  balancer: { address: string; serverStates(): Promise<Record<string, Record<string, string>>> };
  redisClient: Redis;
  namespace: string;
  /** The balancer's GCS address: the one name that follows the leader. */
  gcsAddress: string;
  candidates: string[];
  workers: string[];
  pods: Map<string, Pod>;
  host(name: string): Host;
  baseEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /** `argv` in a host's network namespace with the lab's Ray environment (stdout and stderr piped). */
  onHost(name: string, argv: string[], stdin?: 'pipe' | 'ignore'): ChildProcess;
  haEnv(name: string, extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  startCandidate(name: string, opts?: { env?: NodeJS.ProcessEnv; args?: string[] }): Promise<Pod>;
  startStockHead(name: string): Promise<Pod>;
  startWorker(name?: string, opts?: { env?: NodeJS.ProcessEnv }): Promise<Pod>;
  leaseHolder(): Promise<{ id: string; epoch: number } | null>;
  gcsHosts(): string[];
  rayProcessesOn(name: string): string[];
  gcsListeningOn(name: string): Promise<boolean>;
  gcsThroughBalancer(): Promise<boolean>;
  balancerUp(): Promise<string[]>;
  readyz(name: string): Promise<number | null>;
  events(name: string): OrchestratorEvent[];
  logTail(name: string, n?: number): string;
  waitStandby(name: string, timeoutMs?: number): Promise<unknown>;
  rayStarted(name: string): boolean;
  startTcpReadiness(name: string): Promise<Pod>;
  redisRestart(): Promise<void>;
  probe(mode: 'create' | 'incr' | 'watch' | 'tasks' | 'workers', opts?: { deadlineS?: number; waitGo?: boolean; worker?: string; workers?: number }): Probe;
  createActor(): Promise<ProbeResult>;
  readyProbe(mode?: 'incr' | 'watch' | 'tasks', opts?: { deadlineS?: number; worker?: string }): Promise<Probe>;
  /** `ray job VERB --address http://<balancer>:8265 ARGS...` on a worker host. */
  jobCli(verb: string, args?: string[], opts?: { worker?: string; timeoutMs?: number }): Promise<{ code: number | null; output: string }>;
  jobStatus(id: string, opts?: { worker?: string; timeoutMs?: number }): Promise<string | null>;
  /** Ray's node table, watched through the balancer or a candidate's own GCS address. */
  nodeTable(opts?: { worker?: string; address?: string }): Promise<NodeTableWatch>;
  /** SIGKILL the host's gcs_server; false when none runs. */
  headCrash(name: string): boolean;
  partition(name: string): void;
  heal(name: string): void;
  hostDeath(name: string): void;
  revive(name: string): void;
  podKill(name: string): void;
  /** SIGKILL the host's orchestrator (`ray-head-ha run`) alone; false when none runs. */
  orchestratorKill(name: string): boolean;
  gracefulStop(name: string): void;
  redisRestartEmpty(): Promise<void>;
  redisPause(): void;
  redisResume(): void;
  restartCandidate(name: string, opts?: { env?: NodeJS.ProcessEnv; args?: string[] }): Promise<Pod>;
  close(): void;
}

export const STEPS_JOB: string = rayImpl.STEPS_JOB;
export const startRayLab = rayImpl.startRayLab as (opts?: {
  candidates?: number;
  workers?: number;
  ttlMs?: number;
  retryMs?: number;
  env?: NodeJS.ProcessEnv;
  keepWork?: boolean;
}) => Promise<RayLab>;

export const rayProcesses = rayImpl.rayProcesses as (commands: string[]) => string[];
export const LAB_PORTS: { gcs: number; dashboard: number; client: number; metrics: number } = rayImpl.PORTS;
export const LAB_HTTP_PORT: number = rayImpl.HTTP_PORT;

/** Polls fn every stepMs until it returns something truthy; returns that value. */
export const waitFor = rayImpl.waitFor as <T>(
  what: string,
  fn: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs: number,
  stepMs?: number,
) => Promise<T>;

export interface Balancer {
  address: string;
  serverStates(): Promise<Record<string, Record<string, string>>>;
}

/** redis-server on a lab host (port 6379). */
export const startLabRedis = servicesImpl.startLabRedis as unknown as (host: Host) => Promise<{ address: string }>;
/** HAProxy on a lab host, following each server's /readyz on checkPort. */
export const startHaproxy = servicesImpl.startHaproxy as unknown as (
  host: Host,
  o: { ports: Record<string, number>; servers: Array<{ name: string; address: string }>; checkPort: number; workDir: string },
) => Promise<Balancer>;
