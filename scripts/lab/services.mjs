// Services on lab hosts: Redis (the cluster's GCS storage and the lease), and
// HAProxy as the address that follows the leader: TCP mode, each candidate
// health-checked on GET /readyz (200 only on the leader whose GCS accepts
// connections), sessions to a server marked down shut at once, as Patroni is
// deployed behind HAProxy.
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { isListening } from '../lib/net.mjs';

export { isListening };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitListening(what, port, host, pod, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await isListening(port, host))) {
    if (pod.proc.exitCode !== null) throw new Error(`${what} exited (${pod.proc.exitCode}); see ${pod.logFile}`);
    if (Date.now() > deadline) throw new Error(`${what} did not listen on ${host}:${port}; see ${pod.logFile}`);
    await sleep(20);
  }
}

/**
 * redis-server on `host`, port 6379. Without `dataDir` nothing persists:
 * restartEmpty() is Redis lost with its data. With `dataDir` it keeps an
 * append-only file fsynced on every write, as a production Redis for Ray's GCS
 * fault tolerance would: restart() brings the same data back. pause() and
 * resume() freeze it (SIGSTOP/SIGCONT).
 */
export async function startLabRedis(host, { port = 6379, dataDir = null, args = [] } = {}) {
  let serial = 0;
  const persistence = dataDir ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dataDir] : ['--appendonly', 'no', '--dir', '/tmp'];
  const redis = {
    host,
    port,
    address: `${host.address}:${port}`,
    pod: null,
    async start() {
      redis.pod = await host.spawn(`redis-${serial++}`, [
        'redis-server', '--port', String(port), '--bind', '0.0.0.0', '--protected-mode', 'no', '--save', '',
        '--loglevel', 'warning', ...persistence, ...args,
      ]);
      await waitListening('redis-server', port, host.address, redis.pod);
    },
    /** SIGKILL and start again on the same address (with its data when it persists). */
    async restart() {
      await redis.pod.kill();
      await redis.start();
    },
    /** SIGKILL and start again on the same address, empty. */
    async restartEmpty() {
      if (dataDir) throw new Error('lab redis: restartEmpty() on a persistent Redis');
      await redis.restart();
    },
    pause: () => redis.pod.signalInit('SIGSTOP'),
    resume: () => redis.pod.signalInit('SIGCONT'),
  };
  await redis.start();
  return redis;
}

/** The HAProxy configuration: one TCP frontend per port, the candidates as servers checked on checkPort /readyz. */
export function haproxyConfig({ ports, servers, checkPort, checkIntervalMs = 100, statsSocket }) {
  const lines = [
    'global',
    '  maxconn 4096',
    `  stats socket ${statsSocket} mode 600 level admin`,
    'defaults',
    '  mode tcp',
    '  timeout connect 1s',
    // Ray's gRPC streams and long polls sit idle for long; a failover, not a timeout, ends them.
    '  timeout client 1h',
    '  timeout server 1h',
    // rise 1 / fall 1: one answer moves a server, the /readyz answer is already the leader's own judgement.
    `  default-server check port ${checkPort} inter ${checkIntervalMs}ms fastinter ${checkIntervalMs}ms downinter ${checkIntervalMs}ms rise 1 fall 1 on-marked-down shutdown-sessions`,
  ];
  for (const [name, port] of Object.entries(ports)) {
    lines.push(
      `frontend ${name}`,
      `  bind 0.0.0.0:${port}`,
      `  default_backend ${name}`,
      `backend ${name}`,
      '  option httpchk GET /readyz',
      '  http-check expect status 200',
      ...servers.map((s) => `  server ${s.name} ${s.address}:${port}`),
    );
  }
  return lines.join('\n') + '\n';
}

/**
 * HAProxy on `host` in front of `servers` ({ name, address }), on `ports`
 * ({ gcs: 6379, dashboard: 8265, client: 10001 }). serverStates() reads
 * which servers are up from its stats socket.
 */
export async function startHaproxy(host, { ports, servers, checkPort, workDir, checkIntervalMs = 100 }) {
  const cfg = path.join(workDir, 'haproxy.cfg');
  const statsSocket = path.join(workDir, 'haproxy.sock');
  writeFileSync(cfg, haproxyConfig({ ports, servers, checkPort, checkIntervalMs, statsSocket }));
  const pod = await host.spawn('haproxy', ['haproxy', '-db', '-f', cfg]);
  await waitListening('haproxy', Object.values(ports)[0], host.address, pod);
  return {
    host,
    pod,
    address: host.address,
    ports,
    /** { backend: { server: 'UP' | 'DOWN' | ... } } from `show stat` on the stats socket (a file: reachable from any netns). */
    async serverStates() {
      const out = await statsCommand(statsSocket, 'show stat');
      const states = {};
      for (const line of out.split('\n')) {
        const f = line.split(',');
        if (f.length < 18 || f[0].startsWith('#') || f[1] === 'FRONTEND' || f[1] === 'BACKEND') continue;
        (states[f[0]] ??= {})[f[1]] = f[17];
      }
      return states;
    },
  };
}

/** One command on HAProxy's stats socket; its whole answer. */
function statsCommand(socketPath, command) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ path: socketPath });
    let out = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => (out += d));
    sock.on('end', () => resolve(out));
    sock.on('error', reject);
    sock.on('connect', () => sock.end(`${command}\n`));
  });
}
