/**
 * The schema module against a real redis-server: the status read is a
 * registered script (EVALSHA once loaded, not the script text on every poll),
 * and the one event decoder tells a published event from anything else on
 * the channel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { isVacancy, parseEvent } from '../../src/redis/events.js';
import { leaseKeys } from '../../src/redis/keys.js';
import { readStatus } from '../../src/status.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

let server: RedisServer;

beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server.close();
});

function commandCalls(info: string, command: string): number {
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
}

describe('the status script', () => {
  it('is sent as EVALSHA on every poll; the text goes over at most once, when the server does not have it yet', async () => {
    const raw = server.client();
    await raw.script('FLUSH');
    const ns = 'schema-status';
    await raw.set(leaseKeys(ns).lease, 'a#7', 'PX', 5_000);
    await raw.set(leaseKeys(ns).epoch, '7');
    const reader = new Redis({ port: server.port, host: '127.0.0.1', lazyConnect: true });
    await reader.connect();
    await raw.config('RESETSTAT');
    for (let i = 0; i < 5; i++) expect((await readStatus(reader, ns)).leader).toMatchObject({ id: 'a', epoch: 7 });
    const info = await raw.info('commandstats');
    // The first EVALSHA may meet NOSCRIPT (a failed call, not counted); ioredis then sends the text once.
    expect(commandCalls(info, 'eval')).toBeLessThanOrEqual(1);
    expect(commandCalls(info, 'evalsha') + commandCalls(info, 'eval')).toBe(5);
    expect(commandCalls(info, 'evalsha')).toBeGreaterThanOrEqual(4);
    reader.disconnect();
  });
});

describe('parseEvent', () => {
  it('reads what the scripts publish, and marks anything else on the channel as not an event', () => {
    const released = parseEvent(JSON.stringify({ type: 'released', id: 'c-1', epoch: 12 }));
    expect(released).toEqual({ type: 'released', id: 'c-1', epoch: 12, valid: true });
    expect(isVacancy(released)).toBe(true);
    expect(isVacancy(parseEvent(JSON.stringify({ type: 'stepped-down', id: 'c-1', epoch: 12 })))).toBe(true);
    expect(isVacancy(parseEvent(JSON.stringify({ type: 'acquired', id: 'c-1', epoch: 12 })))).toBe(false);

    const cases: [string, Partial<ReturnType<typeof parseEvent>>][] = [
      ['not json', { type: 'unparsed', id: 'not json', epoch: null }],
      ['null', { type: 'unparsed', epoch: null }],
      [JSON.stringify({ type: 'bogus', id: 'c-1', epoch: 1 }), { type: 'unknown:bogus' }],
      [JSON.stringify({ type: 'released', id: 'a b\n', epoch: 1 }), { type: 'released', id: 'a b\n' }],
      [JSON.stringify({ type: 'released', id: 'c-1', epoch: 1e300 }), { type: 'released', epoch: null }],
      [JSON.stringify({ type: 'released', id: 'x'.repeat(500), epoch: 1 }), { id: 'x'.repeat(80) }],
    ];
    for (const [message, expected] of cases) {
      const e = parseEvent(message);
      expect(e, message).toMatchObject({ ...expected, valid: false });
      expect(isVacancy(e), message).toBe(false);
    }
  });
});
