/**
 * The input of `ray-head-ha release-orphaned` (decision 29): one JSON line
 * known before any term (a warm keeper holds it from spawn), then the term's
 * token on a line of its own (the keeper appends it from a `term` line).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parseSpec } from '../../src/release-orphaned.js';

const STATIC = { redis: { host: '127.0.0.1', port: 6379 }, namespace: 'ns', candidateId: 'cand-1', connectTimeoutMs: 500, logFormat: 'json', logLevel: 'info' };
const json = (o: object = STATIC) => JSON.stringify(o);

describe('release-orphaned: its input', () => {
  it('takes the static JSON line and this candidate\'s token line', () => {
    expect(parseSpec(`${json()}\ncand-1#1700000000123\n`)).toMatchObject({ ...STATIC, epoch: 1700000000123, token: 'cand-1#1700000000123' });
  });

  it.each([
    ['no term line (a warm keeper that never got its term would not run it; by hand it is refused)', `${json()}\n`],
    ['no final newline', `${json()}\ncand-1#5`],
    ['a line after the term', `${json()}\ncand-1#5\nextra\n`],
    ['another candidate\'s token', `${json()}\nother#5\n`],
    ['epoch 0', `${json()}\ncand-1#0\n`],
    ['epoch with a sign', `${json()}\ncand-1#+5\n`],
    ['epoch over 2^53-1', `${json()}\ncand-1#9007199254740992\n`],
    ['the old one-JSON format', `${json({ ...STATIC, epoch: 5, token: 'cand-1#5' })}`],
    ['a JSON array', `[1]\ncand-1#5\n`],
    ['not JSON', `nope\ncand-1#5\n`],
    ['a bad namespace', `${json({ ...STATIC, namespace: 'a b' })}\ncand-1#5\n`],
  ])('refuses %s', (_name, input) => {
    expect(() => parseSpec(input)).toThrow(ConfigError);
  });
});
