/**
 * The wire protocol of ray-head-ha-keeper (native/src/keeper_protocol.h is the
 * reference). The head command goes to the keeper's fd 4 (NUL-terminated
 * arguments, then EOF), not its argv, so a password among the head's
 * arguments stays out of the keeper's /proc/PID/cmdline. Control lines go to
 * its stdin; status lines come back on its fd 3. Numbers are whole decimal
 * integers (the keeper refuses anything else). The keeper's exit code repeats
 * the reason of its last line.
 */
import { constants as osConstants } from 'node:os';
import { parseToken } from '../redis/keys.js';

/** Why the keeper ended, as its `exit` status line says. */
export type KeeperEnd = 'stopped' | 'fenced' | 'eof' | 'parent-died' | 'head-exit' | 'parent-gone' | 'signal' | 'exec-failed';

/** Exit code of the keeper for each end (1 internal error, 2 usage). */
export const KEEPER_EXIT_CODES: Readonly<Record<KeeperEnd, number>> = {
  stopped: 0,
  fenced: 3,
  eof: 4,
  'parent-died': 5,
  'head-exit': 6,
  'parent-gone': 7,
  signal: 8,
  'exec-failed': 127,
};

export type KeeperStatus =
  | { kind: 'started'; pid: number }
  | { kind: 'exec-failed'; errno: number; message: string }
  | { kind: 'error'; message: string }
  | { kind: 'release'; code: number | null; signal: NodeJS.Signals | null }
  | { kind: 'exit'; end: KeeperEnd; code: number | null; signal: NodeJS.Signals | null };

const ENDS = new Set<string>(Object.keys(KEEPER_EXIT_CODES));

export function signalName(signo: number): NodeJS.Signals | null {
  for (const [name, value] of Object.entries(osConstants.signals)) {
    if (value === signo) return name as NodeJS.Signals;
  }
  return null;
}

/** One status line, without its newline; null when it is not one. */
export function parseStatusLine(line: string): KeeperStatus | null {
  const [kind, a, b, c] = line.split(' ');
  if (kind === 'started' && a && /^\d+$/.test(a)) return { kind, pid: Number(a) };
  if (kind === 'exec-failed' && a && /^\d+$/.test(a)) {
    return { kind, errno: Number(a), message: line.split(' ').slice(2).join(' ') };
  }
  if (kind === 'error') return { kind, message: line.slice('error '.length) };
  if (kind === 'release' && a && b) return { kind, ...codeAndSignal(a, b) };
  if (kind === 'exit' && a && ENDS.has(a) && b && c) return { kind, end: a as KeeperEnd, ...codeAndSignal(b, c) };
  return null;
}

/** `<code|-> <signal|->` of a status line: digits, or '-' for none. */
function codeAndSignal(code: string, signal: string): { code: number | null; signal: NodeJS.Signals | null } {
  return { code: /^\d+$/.test(code) ? Number(code) : null, signal: /^\d+$/.test(signal) ? signalName(Number(signal)) : null };
}

/** The keeper's fd that carries the head command. */
export const COMMAND_FD = 4;
/** The keeper's fd that carries the release command, when there is one. */
export const RELEASE_FD = 5;
/** The keeper's fd it hands the head as stdin (a warm standby's go pipe), when there is one. */
export const STDIN_FD = 6;

/** Whole milliseconds, rounded down: the keeper fences at most 1 ms early, never late. */
export function wholeDeadlineMs(deadlineMs: number): number {
  return Math.max(0, Math.floor(deadlineMs));
}

export function deadlineLine(deadlineMs: number): string {
  return `deadline ${wholeDeadlineMs(deadlineMs)}\n`;
}

export function stopLine(graceMs: number): string {
  return `stop ${Math.max(0, Math.round(graceMs))}\n`;
}

export interface KeeperArgs {
  parentPid: number;
  killGraceMs: number;
  deadlineMs: number;
  /** The keeper reads a release command from RELEASE_FD (encodeRelease). */
  release?: boolean;
  /** That release's input is its static part; it runs only once a `term` line came (termLine): a warm head. */
  releaseAwaitsTerm?: boolean;
  /** The grace when this process went away (default: killGraceMs). */
  orphanGraceMs?: number;
  /** The head's stdin is the keeper's STDIN_FD (a warm standby's go pipe) instead of /dev/null. */
  stdinPipe?: boolean;
}

/** The keeper's argv: no head command in it (that goes to COMMAND_FD, see encodeCommand). */
export function keeperArgv(a: KeeperArgs): string[] {
  return [
    '--parent',
    String(a.parentPid),
    '--grace-ms',
    String(Math.max(0, Math.round(a.killGraceMs))),
    ...(a.orphanGraceMs === undefined ? [] : ['--orphan-grace-ms', String(Math.max(0, Math.round(a.orphanGraceMs)))]),
    '--deadline-ms',
    String(wholeDeadlineMs(a.deadlineMs)),
    '--command-fd',
    String(COMMAND_FD),
    ...(a.release ? [a.releaseAwaitsTerm ? '--warm-release-fd' : '--release-fd', String(RELEASE_FD)] : []),
    ...(a.stdinPipe ? ['--stdin-fd', String(STDIN_FD)] : []),
  ];
}

/** The head command as the keeper reads it from COMMAND_FD: each argument NUL-terminated. */
export function encodeCommand(command: readonly string[]): Buffer {
  for (const arg of command) {
    if (arg.includes('\0')) throw new TypeError('a head command argument contains a NUL byte');
  }
  return Buffer.from(command.map((arg) => `${arg}\0`).join(''), 'utf8');
}

/**
 * The release command as the keeper reads it from RELEASE_FD: each argument
 * NUL-terminated, an empty argument, then its stdin.
 */
export function encodeRelease(command: readonly string[], input: string): Buffer {
  if (command.length === 0 || command.some((arg) => arg === '')) throw new TypeError('a release command argument is empty');
  return Buffer.concat([encodeCommand(command), Buffer.from('\0'), Buffer.from(input, 'utf8')]);
}

/** The longest term token the keeper takes (native/src/keeper_protocol.h kMaxTokenBytes). */
const MAX_TOKEN_BYTES = 200 + 1 + 16;

/**
 * The release input with its term (release-orphaned reads both): the static
 * part, as the warm keeper already holds it, then the term's token on a line
 * of its own, as the keeper appends it on a `term` line.
 */
export function releaseInputWithTerm(staticInput: string, token: string): string {
  return `${staticInput}${checkedToken(token)}\n`;
}

/** The control line that gives a warm head's keeper its term: `term <id>#<epoch>`. */
export function termLine(token: string): string {
  return `term ${checkedToken(token)}\n`;
}

function checkedToken(token: string): string {
  if (token.length > MAX_TOKEN_BYTES || parseToken(token) === null || (parseToken(token)?.epoch ?? 0) < 1) {
    throw new TypeError(`not a term token: ${JSON.stringify(token.slice(0, 80))}`);
  }
  return token;
}
