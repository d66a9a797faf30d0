/**
 * The production HeadSupervisor: every head runs under its own
 * ray-head-ha-keeper (native/src/keeper.cc), a small process that holds the
 * fencing deadline and the head's whole tree. This side only spawns it, hands
 * it the head command on fd 4, feeds it deadlines and stop commands over its
 * stdin, and reads its status lines on fd 3. The keeper kills the tree by itself when the deadline passes, when
 * our end of the pipe closes (we died) or on its parent-death signal, so a
 * frozen or SIGKILLed orchestrator cannot keep a head alive.
 *
 * Guarantees: `exited` resolves only after the keeper exited, and the keeper
 * exits only after it killed and reaped every process of the tree. If the
 * keeper itself is SIGKILLed, its head dies by its own PDEATHSIG=SIGKILL; we
 * then KILL the head's group and, when this process is a child subreaper
 * (setChildSubreaper at start), kill and reap whatever re-parented to us.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { monotonicClock, type Clock } from '../clock.js';
import { FencedBeforeStartError, HeadStartError } from '../errors.js';
import { keeperExecutablePath, loadNative, type NativeBinding } from '../native/binding.js';
import {
  COMMAND_FD, RELEASE_FD, STDIN_FD, deadlineLine, encodeCommand, encodeRelease, keeperArgv, parseStatusLine, releaseInputWithTerm, stopLine, termLine,
  type KeeperStatus,
} from './keeper-protocol.js';
import { killAdoptedOrphans, sigkillQuietly } from './orphans.js';
import type { HeadExit, StopReason } from '../term.js';
import type { HeadSpec, HeadSupervisor, WarmHeadHandle } from './types.js';

export interface KeeperSupervisorOptions {
  /** The keeper executable; default: found beside the addon (keeperExecutablePath()). */
  keeperPath?: string;
  /** The addon, for the second line of defence; default loadNative(); null: do without. */
  native?: NativeBinding | null;
  /** For durationMs; default the monotonic clock. */
  clock?: Clock;
}

type ExitStatus = Extract<KeeperStatus, { kind: 'exit' }>;

export class KeeperSupervisor implements HeadSupervisor {
  readonly keeperPath: string;
  private readonly native: NativeBinding | null;
  private readonly clock: Clock;

  /** Throws NativeUnavailableError (listing the paths tried) when the keeper or the addon is missing. */
  constructor(options: KeeperSupervisorOptions = {}) {
    this.keeperPath = options.keeperPath ?? keeperExecutablePath();
    this.native = options.native === undefined ? loadNative() : options.native;
    this.clock = options.clock ?? monotonicClock;
  }

  start(spec: HeadSpec): Promise<KeeperHandle> {
    return this.spawnKeeper(spec, false);
  }

  /** A warm standby's head: its stdin is a pipe (fd STDIN_FD of the keeper) that KeeperHandle.go writes to. */
  startWarm(spec: HeadSpec): Promise<KeeperHandle> {
    return this.spawnKeeper(spec, true);
  }

  private async spawnKeeper(spec: HeadSpec, stdinPipe: boolean): Promise<KeeperHandle> {
    if (!spec.command[0]) throw new HeadStartError('the head command is empty');
    if (!Number.isFinite(spec.killGraceMs) || spec.killGraceMs < 0) throw new TypeError(`bad killGraceMs ${spec.killGraceMs}`);
    if (!Number.isFinite(spec.deadlineMs)) throw new TypeError(`bad deadlineMs ${spec.deadlineMs}`);
    const encoded = encodeCommand(spec.command);
    // With its token, the release is whole now (a cold head); without, its keeper waits for a `term` line (a warm head).
    const o = spec.onOrphaned;
    const release = o ? encodeRelease(o.command, o.token === undefined ? o.input : releaseInputWithTerm(o.input, o.token)) : null;
    const startedMs = this.clock.nowMs();
    // detached: the keeper leads its own group, so a terminal's ^C or a kill
    // of our group reaches us (we then stop the head), not the keeper directly.
    // The command goes over fd 4, not argv: the keeper's /proc/PID/cmdline is
    // world-readable, and the head's arguments may carry Ray's --redis-password.
    // The release command's input (the Redis credentials) goes over fd 5 for the same reason.
    const keeper = spawn(
      this.keeperPath,
      keeperArgv({
        parentPid: process.pid,
        killGraceMs: spec.killGraceMs,
        deadlineMs: spec.deadlineMs,
        release: release !== null,
        releaseAwaitsTerm: o !== undefined && o.token === undefined,
        ...(spec.orphanGraceMs !== undefined && { orphanGraceMs: spec.orphanGraceMs }),
        stdinPipe,
      }),
      // fd 5 is the release pipe or unused, fd 6 the go pipe or absent.
      {
        env: spec.env,
        stdio: ['pipe', 'inherit', 'inherit', 'pipe', 'pipe', release ? 'pipe' : 'ignore', ...(stdinPipe ? (['pipe'] as const) : [])],
        detached: true,
      },
    );
    const feed = (fd: number, data: Buffer) => {
      const pipe = keeper.stdio[fd];
      if (!(pipe instanceof Writable)) throw new Error(`keeper pipe (fd ${fd}) missing`);
      pipe.on('error', () => {}); // a keeper that died early: its exit status says why
      pipe.end(data);
    };
    feed(COMMAND_FD, encoded);
    if (release) feed(RELEASE_FD, release);
    const handle = new KeeperHandle(keeper, spec, startedMs, this.clock, this.native);
    return handle.started();
  }
}

export class KeeperHandle implements WarmHeadHandle {
  /** The head's pid, which is also its process group id. 0 until started. */
  pid = 0;
  readonly keeperPid: number;
  readonly exited: Promise<HeadExit>;

  private lastDeadlineMs: number;
  private requested: StopReason | undefined;
  private execFailure: string | undefined;
  private exitStatus: ExitStatus | undefined;
  private spawnError: Error | undefined;
  private closed = false;
  private readonly startedPromise: Promise<KeeperHandle>;

  constructor(
    private readonly keeper: ChildProcess,
    private readonly spec: HeadSpec,
    private readonly startedMs: number,
    private readonly clock: Clock,
    private readonly native: NativeBinding | null,
  ) {
    this.keeperPid = keeper.pid ?? 0;
    this.lastDeadlineMs = spec.deadlineMs;
    // EPIPE once the keeper is gone: its exit status says why, not the write.
    keeper.stdin?.on('error', () => {});
    let resolveStart!: (h: KeeperHandle) => void;
    let rejectStart!: (e: Error) => void;
    this.startedPromise = new Promise((resolve, reject) => {
      resolveStart = resolve;
      rejectStart = reject;
    });
    this.readStatus((status) => {
      if (status.kind === 'started') {
        this.pid = status.pid;
        resolveStart(this);
      } else if (status.kind === 'exec-failed') {
        this.execFailure = `cannot start ${spec.command[0]}: ${status.message}`;
      } else if (status.kind === 'exit') {
        this.exitStatus = status;
      }
    });
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      keeper.once('close', (code, signal) => resolve({ code, signal }));
      keeper.once('error', (err) => {
        // spawn failed: there will be no 'close'.
        this.spawnError = err;
        for (const s of keeper.stdio) s?.destroy();
        resolve({ code: null, signal: null });
      });
    });
    this.exited = ended.then(async (end) => {
      this.closed = true;
      const exit = await this.toHeadExit(end.code, end.signal);
      if (this.pid === 0) {
        if (!this.execFailure && this.exitStatus?.end === 'fenced') {
          rejectStart(new FencedBeforeStartError('the fencing deadline passed before the head could start'));
        } else {
          const why =
            this.execFailure ??
            (this.spawnError && `cannot run the keeper ${this.spawnError.message}`) ??
            `the keeper ended before the head started (exit ${end.code ?? end.signal})`;
          rejectStart(new HeadStartError(why));
        }
      }
      return exit;
    });
  }

  started(): Promise<KeeperHandle> {
    return this.startedPromise;
  }

  setDeadline(deadlineMs: number): void {
    if (!Number.isFinite(deadlineMs)) throw new TypeError(`bad deadlineMs ${deadlineMs}`);
    if (deadlineMs <= this.lastDeadlineMs) return;
    this.lastDeadlineMs = deadlineMs;
    this.send(deadlineLine(deadlineMs));
  }

  stop(reason: StopReason, grace?: number): Promise<HeadExit> {
    const graceMs = grace !== undefined && Number.isFinite(grace) && grace >= 0 ? grace : this.spec.killGraceMs;
    if (this.requested === undefined) {
      this.requested = reason;
      this.send(stopLine(graceMs));
    } else if (graceMs < this.spec.killGraceMs) {
      this.send(stopLine(graceMs)); // already stopping: a shorter grace brings the KILL closer (the keeper never moves it later)
    }
    return this.exited;
  }

  hurry(): void {
    if (this.requested !== undefined) this.send(stopLine(0));
  }

  get ended(): boolean {
    return this.closed || this.exitStatus !== undefined;
  }

  go(line: string): void {
    const pipe = (this.keeper.stdio as readonly unknown[])[STDIN_FD];
    if (!(pipe instanceof Writable)) throw new Error('this head has no go pipe (not started warm)');
    pipe.on('error', () => {}); // a head that died first: its exit says why
    pipe.end(line);
  }

  setTerm(token: string): void {
    this.send(termLine(token));
  }

  private send(line: string): void {
    const stdin = this.keeper.stdin;
    if (!this.closed && stdin && stdin.writable) stdin.write(line);
  }

  private readStatus(onStatus: (s: KeeperStatus) => void): void {
    const stream = this.keeper.stdio[3];
    if (!(stream instanceof Readable)) throw new Error('keeper status pipe (fd 3) missing');
    stream.setEncoding('utf8');
    let buffered = '';
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const status = parseStatusLine(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
        if (status) onStatus(status);
      }
    });
    stream.on('error', () => {});
  }

  private async toHeadExit(keeperCode: number | null, keeperSignal: NodeJS.Signals | null): Promise<HeadExit> {
    const s = this.exitStatus;
    if (s?.end === 'exec-failed' || (this.pid === 0 && this.execFailure)) {
      return this.finish({ code: 127, signal: null, reason: 'start-failed', error: this.execFailure ?? 'exec failed' });
    }
    if (s) {
      const reason: StopReason =
        s.end === 'head-exit' ? 'head-exit' : s.end === 'fenced' ? 'fenced' : (this.requested ?? 'head-exit');
      const odd = s.end !== 'head-exit' && s.end !== 'fenced' && s.end !== 'stopped';
      return this.finish({ code: s.code, signal: s.signal, reason, ...(odd ? { error: `keeper ended: ${s.end}` } : {}) });
    }
    // The keeper died without cleaning up (SIGKILL, crash): second line of defence.
    if (this.pid > 0) sigkillQuietly(-this.pid);
    if (this.native?.isChildSubreaper()) await killAdoptedOrphans(this.native);
    const how = keeperSignal ?? `code ${keeperCode}`;
    return this.finish({ code: null, signal: null, reason: this.requested ?? 'head-exit', error: `the keeper ended by ${how} without a report` });
  }

  private finish(e: Omit<HeadExit, 'durationMs'>): HeadExit {
    return { ...e, durationMs: this.clock.nowMs() - this.startedMs };
  }
}
