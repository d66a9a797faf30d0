/**
 * The preflight lookup is execvp's: a name with a slash is used as given, a
 * bare name is searched on PATH (empty entry: the working directory), an entry
 * where the name exists but cannot be executed is skipped.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HeadStartError } from '../../src/errors.js';
import { resolveHeadExecutable } from '../../src/supervisor/preflight.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rhha-preflight-'));
const bin = path.join(dir, 'bin');
const noExec = path.join(dir, 'noexec');
mkdirSync(bin);
mkdirSync(noExec);
mkdirSync(path.join(dir, 'ray-dir'));
writeFileSync(path.join(bin, 'ray'), '#!/bin/sh\n', { mode: 0o755 });
writeFileSync(path.join(noExec, 'ray'), '#!/bin/sh\n');
chmodSync(path.join(noExec, 'ray'), 0o644);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function refusal(name: string, env: NodeJS.ProcessEnv, cwd = dir): string {
  try {
    resolveHeadExecutable(name, env, cwd);
  } catch (err) {
    expect(err).toBeInstanceOf(HeadStartError);
    expect((err as HeadStartError).exitCode).toBe(127);
    return (err as Error).message;
  }
  throw new Error(`${name} was accepted`);
}

describe('resolveHeadExecutable', () => {
  it('finds a bare name on PATH, skipping an entry where it is not executable', () => {
    expect(resolveHeadExecutable('ray', { PATH: `${noExec}:${bin}` })).toBe(path.join(bin, 'ray'));
  });

  it('resolves relative and empty PATH entries against the working directory, as execvp does', () => {
    expect(resolveHeadExecutable('ray', { PATH: 'bin' }, dir)).toBe(path.join(bin, 'ray'));
    expect(resolveHeadExecutable('ray', { PATH: '' }, bin)).toBe(path.join(bin, 'ray'));
  });

  it('takes a name with a slash as it is, relative to the working directory', () => {
    expect(resolveHeadExecutable('./bin/ray', { PATH: '' }, dir)).toBe('./bin/ray');
    expect(resolveHeadExecutable(path.join(bin, 'ray'), {})).toBe(path.join(bin, 'ray'));
  });

  it('refuses what execvp could not run, saying why', () => {
    expect(refusal('/nonexistent/ray', {})).toBe('cannot start the head: "/nonexistent/ray": no such file');
    expect(refusal(path.join(dir, 'ray-dir'), {})).toMatch(/: a directory$/);
    expect(refusal(path.join(noExec, 'ray'), {})).toMatch(/: not executable \(no execute permission\)$/);
    expect(refusal('ray', { PATH: noExec })).toBe(`cannot start the head: "ray" is not executable on PATH (${path.join(noExec, 'ray')} is not executable (no execute permission))`);
    expect(refusal('no-such-head-xyz', { PATH: bin })).toBe('cannot start the head: "no-such-head-xyz" is not found on PATH');
    expect(refusal('', {})).toBe('cannot start the head: the command is empty');
  });

  it('searches glibc\'s default path when PATH is unset', () => {
    expect(resolveHeadExecutable('sh', {})).toMatch(/^\/(usr\/)?bin\/sh$/);
  });
});
