import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import {
  defaultRayTempDir,
  isRayHeadStart,
  rayHeadInfo,
  redisCredentialsFromRayArgs,
} from '../../src/ray/head-command.js';
import { egressInterfaceV4, egressInterfaceV6, hostnameFromHosts, nodeIpRayWouldPick } from '../../src/ray/node-ip.js';

const nodeIp = () => '10.1.2.3';
const info = (...args: string[]) => rayHeadInfo(['/opt/venv/bin/ray', ...args], {}, { nodeIp });

describe('isRayHeadStart', () => {
  it.each([
    [['ray', 'start', '--head'], true],
    [['/opt/venv/bin/ray', 'start', '--port=6380', '--head', '--block'], true],
    [['ray', '--logging-level', 'debug', 'start', '--head'], true],
    [['ray', '--logging-level=debug', 'start', '--head'], true],
    [['ray', 'start', '--address=10.0.0.1:6379'], false],
    [['ray', 'start', '--address', '10.0.0.1:6379', '--block'], false],
    [['ray', 'status'], false],
    [['ray', 'stop', '--head'], false],
    [['ray'], false],
    [[], false],
    [['python', 'start', '--head'], false],
    [['/bin/ray-like', 'start', '--head'], false],
    // a value that looks like the flag is a value, as click reads it
    [['ray', 'start', '--node-name', '--head'], false],
  ])('%j → %s', (argv, expected) => {
    expect(isRayHeadStart(argv)).toBe(expected);
  });
});

describe('rayHeadInfo', () => {
  it('adds --block when missing and keeps argv otherwise untouched', () => {
    expect(info('start', '--head', '--port=6380').command).toEqual(['/opt/venv/bin/ray', 'start', '--head', '--port=6380', '--block']);
    expect(info('start', '--head', '--block', '--port', '6380').command).toEqual([
      '/opt/venv/bin/ray', 'start', '--head', '--block', '--port', '6380',
    ]);
  });

  it.each([
    [['start', '--head'], '10.1.2.3:6379'],
    [['start', '--head', '--port=6380'], '10.1.2.3:6380'],
    [['start', '--head', '--port', '6380'], '10.1.2.3:6380'],
    [['start', '--head', '--port', '6380', '--port=7000'], '10.1.2.3:7000'],
    [['start', '--head', '--node-ip-address', '192.168.0.9', '--port', '6380'], '192.168.0.9:6380'],
    [['start', '--head', '--node-ip-address=fd00::5', '--port=6380'], '[fd00::5]:6380'],
    // Ray resolves a loopback --node-ip-address to the node's reachable IP
    [['start', '--head', '--node-ip-address=127.0.0.1'], '10.1.2.3:6379'],
    [['start', '--head', '--node-ip-address', 'localhost'], '10.1.2.3:6379'],
    [['start', '--head', '--node-ip-address=127.0.0.2'], '127.0.0.2:6379'],
  ])('gcs address of %j is %s', (args, expected) => {
    expect(info(...args).gcsAddress).toBe(expected);
  });

  it.each([
    [['start', '--head'], 'http://127.0.0.1:8265'],
    [['start', '--head', '--dashboard-port=9000'], 'http://127.0.0.1:9000'],
    [['start', '--head', '--dashboard-host', '0.0.0.0', '--dashboard-port', '9000'], 'http://10.1.2.3:9000'],
    [['start', '--head', '--dashboard-host=0.0.0.0', '--node-ip-address=192.168.0.9'], 'http://192.168.0.9:8265'],
    [['start', '--head', '--dashboard-host=localhost'], 'http://localhost:8265'],
    [['start', '--head', '--include-dashboard=false'], null],
    [['start', '--head', '--include-dashboard', 'False'], null],
    [['start', '--head', '--include-dashboard', '0'], null],
    [['start', '--head', '--include-dashboard=true'], 'http://127.0.0.1:8265'],
  ])('dashboard of %j is %s', (args, expected) => {
    expect(info(...args).dashboardUrl).toBe(expected);
  });

  it('reports --temp-dir in both spellings, else null', () => {
    expect(info('start', '--head', '--temp-dir', '/data/ray').tempDir).toBe('/data/ray');
    expect(info('start', '--head', '--temp-dir=/data/ray').tempDir).toBe('/data/ray');
    expect(info('start', '--head').tempDir).toBeNull();
  });

  it('does not need the node IP when --node-ip-address is given and the dashboard is local', () => {
    const r = rayHeadInfo(['ray', 'start', '--head', '--node-ip-address=10.9.9.9'], {}, {
      nodeIp: () => {
        throw new Error('must not be called');
      },
    });
    expect(r.gcsAddress).toBe('10.9.9.9:6379');
  });

  it.each([
    [['start', '--head', '--port=0'], /--port=0/],
    [['start', '--head', '--port=abc'], /--port=abc: not a port/],
    [['start', '--head', '--dashboard-port', '70000'], /--dashboard-port=70000/],
    [['start', '--address=x:1'], /not `ray start --head`/],
    [['status'], /not `ray start --head`/],
  ])('rejects %j with a ConfigError', (args, message) => {
    expect(() => info(...args)).toThrow(ConfigError);
    expect(() => info(...args)).toThrow(message);
  });

  it('defaults the node IP to the address Ray would pick', () => {
    const r = rayHeadInfo(['ray', 'start', '--head'], {});
    expect(r.gcsAddress).toBe(`${nodeIpRayWouldPick()}:6379`);
  });
});

describe('redisCredentialsFromRayArgs', () => {
  const argv = (...a: string[]) => ['ray', 'start', '--head', ...a];
  it.each([
    [argv(), {}, {}],
    [argv('--redis-password=s3cret'), {}, { password: 's3cret' }],
    [argv('--redis-password', 's3cret', '--redis-username', 'ray'), {}, { username: 'ray', password: 's3cret' }],
    [argv(), { REDIS_PASSWORD: 'fromenv' }, { password: 'fromenv' }],
    [argv('--redis-password=flag'), { REDIS_PASSWORD: 'fromenv' }, { password: 'flag' }],
    // Ray's default is the empty string: no password
    [argv('--redis-password='), {}, {}],
    [argv('--redis-password='), { REDIS_PASSWORD: 'fromenv' }, { password: 'fromenv' }],
  ])('%j with env %j → %j', (a, env, expected) => {
    expect(redisCredentialsFromRayArgs(a, env)).toEqual(expected);
  });
});

describe('defaultRayTempDir', () => {
  it('follows RAY_TMPDIR, then TMPDIR, then /tmp', () => {
    expect(defaultRayTempDir({})).toBe('/tmp/ray');
    expect(defaultRayTempDir({ TMPDIR: '/scratch' })).toBe('/scratch/ray');
    expect(defaultRayTempDir({ RAY_TMPDIR: '/r', TMPDIR: '/scratch' })).toBe('/r/ray');
  });
});

describe('node IP as Ray picks it', () => {
  const header = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n';
  it('takes the default route, or a more specific one that covers 8.8.8.8', () => {
    const routes = `${header}eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n`;
    expect(egressInterfaceV4(routes)).toBe('eth0');
    // 8.0.0.0/8 via wg0 beats the default route
    const specific = `${routes}wg0\t00000008\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n`;
    expect(egressInterfaceV4(specific)).toBe('wg0');
    // lower metric wins among equal prefixes; down routes are ignored
    const two = `${header}eth1\t00000000\t01000000\t0003\t0\t0\t100\t00000000\t0\t0\t0\neth2\t00000000\t01000000\t0003\t0\t0\t50\t00000000\t0\t0\t0\neth3\t00000000\t01000000\t0002\t0\t0\t1\t00000000\t0\t0\t0\n`;
    expect(egressInterfaceV4(two)).toBe('eth2');
    expect(egressInterfaceV4(header)).toBeNull();
  });

  it('falls back to the IPv6 default route, then /etc/hosts, then 127.0.0.1', () => {
    const v6 = `${'0'.repeat(32)} 00 ${'0'.repeat(32)} 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth0\n`;
    expect(egressInterfaceV6(v6)).toBe('eth0');
    const interfaces = {
      eth0: [
        { address: 'fe80::1', family: 'IPv6', internal: false } as never,
        { address: 'fd00::7', family: 'IPv6', internal: false } as never,
      ],
    };
    expect(nodeIpRayWouldPick({ routes: header, routes6: v6, interfaces, hosts: '', hostname: 'h' })).toBe('fd00::7');
    expect(hostnameFromHosts('127.0.0.1 localhost\n# x\nfd00::9 pod-a\n10.0.0.7 pod-a pod-a.ns\n', 'pod-a')).toBe('10.0.0.7');
    expect(nodeIpRayWouldPick({ routes: header, routes6: '', interfaces: {}, hosts: '10.0.0.7 pod-a', hostname: 'pod-a' })).toBe('10.0.0.7');
    expect(nodeIpRayWouldPick({ routes: header, routes6: '', interfaces: {}, hosts: '', hostname: 'pod-a' })).toBe('127.0.0.1');
  });
});
