/**
 * One usage text, generated from the option table: every setting is in it,
 * flag or environment only, and the README shows the same commands and lists
 * the same variables.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPTIONS, type Option } from '../../src/options.js';
import { COMMANDS, USAGE } from '../../src/usage.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const options: Option[] = Object.values(OPTIONS);

describe('usage', () => {
  it('names every setting of the option table, with its flag and every environment name', () => {
    for (const o of options) {
      if (o.flag !== null) expect(USAGE).toContain(`--${o.flag} [${o.env.join(', ')}]`);
      for (const name of o.env) expect(USAGE).toContain(name);
      expect(USAGE).toContain(o.help);
    }
  });

  it('lists the settings read only from the environment under their own heading (state file, credentials)', () => {
    const envOnly = USAGE.slice(USAGE.indexOf('Read from the environment only'), USAGE.indexOf('Redis flags (status'));
    for (const name of ['RAY_HA_STATE_FILE', 'REDIS_PASSWORD', 'RAY_HA_REDIS_USERNAME', 'RAY_HA_REDIS_SENTINEL_PASSWORD_FILE', 'RAY_HA_RUN_DIR']) {
      expect(envOnly).toContain(name);
    }
    expect(options.filter((o) => o.flag === null).map((o) => o.env[0])).toContain('RAY_HA_STATE_FILE');
  });

  it("is the README's Commands block, and the README's table has every variable", () => {
    const block = /## Commands\n\n```\n([^`]*)```/.exec(readme)?.[1];
    expect(block?.trimEnd().split('\n')).toEqual(COMMANDS);
    const table = readme.slice(readme.indexOf('| env | flag | meaning | default |'), readme.indexOf('### Exit codes'));
    for (const o of options) {
      for (const name of o.env) expect(table, name).toContain(name);
    }
  });
});
