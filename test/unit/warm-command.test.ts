/**
 * Which head commands start warm (decision 32): Ray's own console script, run
 * with the interpreter of its #! line; anything else cold, with the reason.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WARM_SCRIPT, warmCommand } from '../../src/ray/warm-command.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rhha-warm-cmd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  chmodSync(file, 0o755);
  return file;
}
const PIP_SCRIPT = (shebang: string) => `${shebang}\n# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom ray.scripts.scripts import main\nif __name__ == '__main__':\n    sys.exit(main())\n`;

describe('warmCommand', () => {
  it("runs Ray's console script under its own interpreter, with the same arguments", () => {
    const ray = script('ray', PIP_SCRIPT('#!/opt/venv/bin/python3'));
    expect(warmCommand([ray, 'start', '--head', '--block'], {})).toEqual({ command: ['/opt/venv/bin/python3', WARM_SCRIPT, ray, 'start', '--head', '--block'] });
  });

  it('keeps the one argument of a #! line (/usr/bin/env python3), and finds a bare name on the head\'s PATH', () => {
    const bin = path.join(dir, 'bin');
    const ray = script('ray-env', PIP_SCRIPT('#!/usr/bin/env python3'));
    mkdirSync(bin);
    symlinkSync(ray, path.join(bin, 'ray'));
    expect(warmCommand(['ray', 'start', '--head'], { PATH: `/nonexistent:${bin}` })).toEqual({
      command: ['/usr/bin/env', 'python3', WARM_SCRIPT, path.join(bin, 'ray'), 'start', '--head'],
    });
  });

  it.each([
    ['a script that is not Ray\'s CLI', () => [script('other', '#!/bin/sh\nexec sleep 1\n')], /is not Ray's console script/],
    ['a binary', () => ['/bin/sleep', '1'], /is not a script with a #! line/],
    ['a name not on PATH', () => ['no-such-ray-here'], /not found on PATH/],
  ])('%s: cold, with the reason', (_name, command, reason) => {
    const r = warmCommand(command(), { PATH: '/usr/bin:/bin' });
    expect('reason' in r && r.reason).toMatch(reason);
  });
});
